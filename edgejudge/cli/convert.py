"""``edgejudge convert`` and ``edgejudge quantize``: thin wrappers over ``edgejudge.convert``."""

from __future__ import annotations

import click


@click.command()
@click.argument("src_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The GGUF file to write (written under a temporary name, renamed when complete).")
@click.option("--outtype", type=click.Choice(["bf16", "f16", "q8_0", "f32"]), default="bf16", show_default=True,
              help="Tensor type of the output (bf16 keeps the checkpoint's precision; quantize it further "
                   "with edgejudge quantize).")
@click.option("--model", "model_id", default=None, metavar="ID",
              help="The registered model this checkpoint is (sets the pre-tokenizer, family, source and licence).")
@click.option("--pre-tokenizer", default=None, help="llama.cpp pre-tokenizer name (default: from --model, else qwen2).")
def convert(src_dir, out, outtype, model_id, pre_tokenizer):
    """Convert a Qwen2/Qwen3 Hugging Face checkpoint folder to GGUF (no torch needed)."""
    from dataclasses import replace

    from edgejudge.cli.output import Progress, warn
    from edgejudge.convert import Provenance, provenance_for
    from edgejudge.convert import convert as run_convert
    from edgejudge.store import registry

    provenance = provenance_for(registry.load().get(model_id)) if model_id else Provenance()
    if pre_tokenizer:
        provenance = replace(provenance, pre_tokenizer=pre_tokenizer)
    bar = Progress(f"converting to {outtype}")
    result = run_convert(src_dir, out, outtype=outtype, provenance=provenance, progress=bar.bytes)
    bar.done()
    warn(f"wrote {result.path} ({result.n_tensors} tensors, {result.size / 2**20:,.1f} MiB, {outtype})")


@click.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=str))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The quantized GGUF to write (written under a temporary name, renamed when complete).")
@click.option("--type", "qtype", required=True, metavar="TYPE",
              help="Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K (the ladder) or another llama.cpp type.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Threads (default: all usable CPUs).")
@click.option("--allow-requantize", is_flag=True, help="Quantize an already quantized file (loses quality).")
def quantize(src, out, qtype, threads, allow_requantize):
    """Quantize a GGUF with llama.cpp's own quantizer."""
    from edgejudge.cli.output import warn
    from edgejudge.convert import quantize as run_quantize

    result = run_quantize(src, out, qtype, threads=threads, allow_requantize=allow_requantize)
    warn(f"wrote {result.path} ({result.type}, {result.size / 2**20:,.1f} MiB) in {result.seconds:.1f} s")


COMMANDS = (convert, quantize)
