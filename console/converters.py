class PhaseActionConverter:
    """The phase actions a page can post: start (or retry), pause, resume."""

    regex = "start|pause|resume"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
