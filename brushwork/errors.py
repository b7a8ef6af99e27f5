"""Errors that front ends turn into one line and exit status 2.

The library raises these for bad *input* (files, sizes, weights, layer names), never
for bugs, so that a CLI or a web server can tell the user what to fix without a traceback.
"""


class BrushworkError(Exception):
    """Base class for every error Brushwork reports to its user."""


class InputError(BrushworkError, ValueError):
    """A user-supplied value or file is unusable; the message names it and says why."""


class ImageTooLarge(InputError):
    """An image over a size limit (bytes or pixels): rejected before its pixels are decoded."""
