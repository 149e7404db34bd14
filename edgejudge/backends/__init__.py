"""Backends run a :class:`~edgejudge.plan.Plan`: llama.cpp in this process (``llama``), or an
OpenAI-compatible server (``remote``). Both take the same plans and return the same outcomes."""
