"""Real motion capture → clips: BVH reading, skeleton maps, conversion, the cache and the fixed split."""
