"""Model store commands: ``models``, ``path``, ``pull``, ``import``, ``verify``, ``rm``."""

from __future__ import annotations

import click


@click.command()
@click.argument("model_id", required=False, metavar="[ID]")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model instead of a table.")
def models(model_id, as_json):
    """List the judges: family, tasks, quants, installed, and whether this machine can run them.

    For each judge: what `pull` downloads, each quant's file size and the memory a judgment needs
    (weights + KV cache at a typical context), against this machine's memory. With ID: every quant.
    """
    from edgejudge.cli.output import data_writer
    from edgejudge.errors import ModelNotFound
    from edgejudge.store import catalogue

    rows = catalogue.rows()
    if model_id is not None:
        rows = [row for row in rows if row["id"] == model_id]
        if not rows:
            raise ModelNotFound(f"unknown model {model_id!r}", hint="edgejudge models lists them all")
    out = data_writer()
    if as_json:
        for row in rows:
            out.record(row)
    elif model_id is not None:
        out.text(catalogue.detail(rows[0]))
    else:
        out.text(catalogue.table(rows))


@click.command()
@click.argument("ref", metavar="ID[:QUANT]", required=False)
def path(ref):
    """Print the validated local GGUF of a judge, e.g. for llama-server -m "$(edgejudge path ID)"."""
    from edgejudge.cli.output import data_writer
    from edgejudge.store import resolve

    data_writer().text(str(resolve.resolve(ref).path))


@click.command()
@click.argument("ref", metavar="ID[:QUANT]")
@click.option("--offline", is_flag=True, help="Use only the local Hugging Face cache; never connect.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Threads for quantizing.")
def pull(ref, offline, threads):
    """Download a judge (converting it here when no GGUF is published) into the model store."""
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.store import pull as pull_mod

    path = pull_mod.pull(ref, offline=offline, threads=threads, log=lambda line: warn(f"edgejudge: {line}"))
    data_writer().text(str(path))


@click.command("import")
@click.argument("source", type=click.Path(dir_okay=False, exists=False))
@click.option("--as", "ref", default=None, metavar="ID:QUANT",
              help="The id and quant to store it under (default: from the FILE.json manifest that "
                   "edgejudge export writes beside the file).")
def import_(source, ref):
    """Copy a local GGUF into the model store (validated, checksummed, atomically).

    A file made by `edgejudge export` needs no --as: its manifest (FILE.json) names it and pins
    its sha256.
    """
    from pathlib import Path

    from edgejudge.cli.output import data_writer
    from edgejudge.store import carry

    data_writer().text(str(carry.import_file(Path(source), ref)))


@click.command()
@click.argument("ref", metavar="ID[:QUANT]")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="The .gguf file to write; its manifest is written beside it as OUT.json.")
def export(ref, out):
    """Copy an installed judge to a file, with a manifest, to carry to a machine without internet.

    \b
    On the connected machine:  edgejudge pull mr3-qwen3-4b && edgejudge export mr3-qwen3-4b -o mr3.gguf
    Carry mr3.gguf and mr3.gguf.json; on the offline one: edgejudge import mr3.gguf
    """
    from pathlib import Path

    from edgejudge.cli.output import data_writer, warn
    from edgejudge.store import carry

    done = carry.export_model(ref, Path(out))
    warn(f"edgejudge: exported {done.manifest['id']}:{done.manifest['quant']} "
         f"({done.manifest['size'] / 2**20:,.1f} MiB) with its manifest {done.manifest_path}")
    data_writer().text(str(done.path))


@click.command()
@click.argument("model_id", required=False, metavar="[ID]")
def verify(model_id):
    """Re-hash and re-validate installed model files (all, or one model's)."""
    from edgejudge.cli.output import data_writer
    from edgejudge.errors import ModelFileError
    from edgejudge.store import inventory

    checks = inventory.verify(model_id)
    out = data_writer()
    for check in checks:
        out.text(f"{'ok ' if check.ok else 'BAD'}  {check.ref:<28} {check.problem or check.sha256[:16]}  {check.path}")
    bad = [c for c in checks if not c.ok]
    if bad:
        raise ModelFileError(f"{len(bad)} of {len(checks)} files failed verification",
                             hint="pull or import the bad files again (edgejudge rm ID:QUANT first)")


@click.command()
@click.argument("ref", metavar="ID[:QUANT]")
def rm(ref):
    """Remove a model (or one quant) from the model store (the Hugging Face cache is left alone)."""
    from edgejudge.cli.output import data_writer
    from edgejudge.store import inventory, resolve

    model_id, quant = resolve.split_ref(ref)
    for removed in inventory.remove(model_id, quant):
        data_writer().text(f"removed {removed}")


COMMANDS = (models, path, pull, import_, export, verify, rm)
