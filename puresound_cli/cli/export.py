"""``puresound export``: a model as TorchScript or ONNX, checked against PyTorch."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from puresound_cli.cli.app import app
from puresound_cli.cli.options import DebugOpt, OverwriteOpt, QuietOpt
from puresound_cli.cli.report import Reporter, json_line, logger, usage_error
from puresound_cli.errors import PuresoundError


class ExportFormat(str, Enum):
    torchscript = "torchscript"
    onnx = "onnx"


@app.command()
def export(
    model: Annotated[
        str, typer.Argument(help="Registered model name or checkpoint path.", show_default=False)
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="File to write (.onnx, or .pt/.ts for TorchScript).",
            metavar="PATH",
        ),
    ],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", "-f", help="Default: from the file suffix.", show_default=False),
    ] = None,
    opset: Annotated[int, typer.Option("--opset", min=17, help="ONNX opset.", metavar="N")] = 17,
    overwrite: OverwriteOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was written as one JSON line on stdout.")
    ] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Export a model for use without puresound: TorchScript or ONNX, any batch and length.

    The graph is checked against PyTorch at other batch sizes and lengths before the file is
    kept (ONNX: when onnxruntime is installed).
    """
    reporter = Reporter(quiet, debug)
    from puresound_cli.checkpoint import load_model
    from puresound_cli.export import EXTRA, export_model, format_for

    try:
        kind = format_for(output, fmt.value if fmt else None)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from None
    from puresound_cli.checkpoint import model_file
    from puresound_cli.files import refuse_inputs

    try:
        refuse_inputs(output, [("model", model_file(model, check=False))])
        net = load_model(model)
        report = export_model(net, output, kind, overwrite=overwrite, opset=opset)
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from None
    shapes = ", ".join(
        f"{name} (batch, 1, {'enroll_time' if name == 'enrollment' else 'time'})"
        for name in report.inputs
    )
    logger.info(
        "%s: %s, %s, %d Hz: %s -> estimate", report.path, report.format, report.task,
        report.sample_rate, shapes,
    )  # fmt: skip
    if report.checked:
        logger.info("checked against PyTorch: max difference %.1e of the peak", report.max_error)
    else:
        logger.warning("%s: not checked: onnxruntime is not installed (%s)", report.path, EXTRA)
    if json_out:
        json_line(report.as_dict())
