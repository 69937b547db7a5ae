"""The one error type for models that cannot be loaded, with advice on how to point at a local copy."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to do instead."""


def offline_advice(name: str) -> str:
    """What to tell a user whose hub download failed."""
    return (
        f"could not load {name!r} from the Hugging Face hub (no network, or no such model). "
        f"Download it where there is network (e.g. `hf download {name} --local-dir DIR`), copy DIR here "
        "and give the local path instead of the hub id."
    )


class DirectionMismatch(ModelLoadError):
    """A trained artifact (e.g. an Asyrp direction) was made for different model weights than the job loads."""
