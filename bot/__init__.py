"""paperbot: daily paper digests (arXiv, Hugging Face, bioRxiv, medRxiv), search and explained math."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/paperbot-dev/paperbot"
USER_AGENT = f"paperbot/{__version__} (+{PROJECT_URL})"
