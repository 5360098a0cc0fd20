"""The Inter-M Transformer (config, blocks, network, training objective, checkpoint format). Imported by
generation, training and the official-release reader. Import submodules explicitly."""
