"""The one error the bundle tools raise; only `build.main` turns it into an exit status."""


class BundleError(Exception):
    """The bundle cannot be built; the message names the file or input and how to fix it."""
