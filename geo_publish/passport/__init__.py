from geo_publish.passport.model import Passport

__all__ = ["Passport"]
