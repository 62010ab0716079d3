"""Exporting a finished run to other tools' formats: `autointerp export --format neuronpedia` (see `export.run`)."""

from autointerp.export.run import BATCH_SIZE, FORMATS, ExportOptions, export_run

__all__ = ["BATCH_SIZE", "FORMATS", "ExportOptions", "export_run"]
