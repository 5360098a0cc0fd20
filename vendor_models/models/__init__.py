"""Networks of our InterMask implementation (torch). Import submodules explicitly; nothing heavy here."""
