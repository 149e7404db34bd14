"""JSON Lines in, JSON Lines out: the loop behind ``score``, ``serve --stdio`` and ``score_many``."""
