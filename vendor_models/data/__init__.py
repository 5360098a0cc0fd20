"""Real motion capture → clips: BVH reading, skeleton maps, conversion, InterHuman loading, captions, the
cache and the fixed split. Used by training, evaluation and the command line; never by the add-on."""
