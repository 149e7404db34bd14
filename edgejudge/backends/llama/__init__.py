"""llama.cpp in this process: the machine (``hardware``), every llama.cpp setting (``runtime``),
token sampling, grammars compiled against a vocabulary, and the engine that runs plans."""
