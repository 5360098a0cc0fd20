"""The add-on's one error family: a failure the user can cause or fix, with a message written for them.

Every add-on error class derives from :class:`InterMaskError`. The panel's operators and the command line
all catch :data:`USER_ERRORS`: that family, plus the shared clip file's ``ClipError`` and the OS's
``OSError``, which come from outside the add-on, and show the message instead of a traceback.
"""

from .seam import clip_file


class InterMaskError(Exception):
    """A failure with a message for the user; subclasses say which part of the add-on refused."""


class UsageError(InterMaskError, ValueError):
    """A setting or command-line option that cannot work (empty prompt, bad frame range, wrong file type)."""


#: What every front end reports as a message instead of a traceback.
USER_ERRORS = (InterMaskError, clip_file.ClipError, OSError)
