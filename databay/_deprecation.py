"""The one place that warns about deprecated names (all removed in 1.0)."""


def warn_deprecated(old: str, new: str, since: str, removed_in: str = "1.0") -> None:
    """Warn that ``old`` is deprecated in favour of ``new``, pointing at the caller's caller."""
    import warnings

    warnings.warn(
        "%s is deprecated since databay %s and will be removed in %s; use %s instead."
        % (old, since, removed_in, new),
        DeprecationWarning,
        stacklevel=3,
    )
