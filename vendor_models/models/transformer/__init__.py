"""The Inter-M Transformer (config, blocks, network, training objective). Import submodules explicitly."""
