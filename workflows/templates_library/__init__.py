"""Templates: ready-made workflows for common automations, asking only for a few inputs.

The files live in ``files/`` (one JSON document per template); ``library`` loads and checks
them, ``inputs`` holds the kinds of input they ask for, ``services`` turns a template and its
inputs into a workflow (API, ``manage.py``) or into a draft on the builder's canvas.
"""

from __future__ import annotations

from workflows.templates_library.library import (
    CATEGORIES,
    Template,
    TemplateInput,
    TemplateInputsInvalid,
    all_templates,
    get_template,
)

__all__ = ["CATEGORIES", "Template", "TemplateInput", "TemplateInputsInvalid", "all_templates", "get_template"]
