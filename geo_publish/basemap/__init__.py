"""An offline base map from OpenStreetMap: an OSM extract (``.osm.pbf``) turned into a vector
PMTiles archive in the layers of the Protomaps basemap schema (roads, water, landuse,
buildings, places, pois), so that the citizen map shows the streets to a shelter with no tile
server and no connection.

Two passes, each with bounded memory:

1. ``osm.read``: the extract is streamed once (pyosmium; node locations in a file on disk);
   each object the map draws is classified (layer, kind, first zoom, names) and written to a
   spool (SQLite, with an R-tree over its box and first zoom);
2. ``tiles.write``: zoom by zoom, blocks of up to 8 x 8 tiles in the archive's order; the
   features of a block come from the spool's R-tree, are cut to each tile, simplified and
   encoded (``geo_publish.tiles``), and the tiles written as they come.

Memory holds one block's features, never the extract.
"""
