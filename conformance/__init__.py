"""entropy-atlas conformance harness: prove every backend equal to the reference.

Entry points: the ``entropy-atlas`` CLI (:mod:`conformance.cli`), :func:`assert_conforms` for a
user's own test suite (also available as the ``entropy_atlas`` pytest fixture), and the runner API.
"""

from conformance.api import assert_conforms, conform

__all__ = ["assert_conforms", "conform"]
