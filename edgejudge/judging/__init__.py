"""The judging core: ``Judge`` (the API) turns items into verdicts through a format, a plan and a
backend; ``verdict`` is the one output schema; ``parsers`` read free-running outputs; ``prompts``
renders the exact prompt without weights; ``samples`` are the demo's pairs."""
