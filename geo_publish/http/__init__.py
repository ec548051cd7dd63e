"""What every HTTP answer of geo-publish shares, the API's, the portal's and the site's: one error
table (``errors``), one rule for choosing HTML or JSON (``negotiate``), request bodies read
within a bound (``body``), and the small ASGI pieces (``asgi``)."""
