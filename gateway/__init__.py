"""Air-gapped AI gateway: the LiteLLM proxy with ML routing and an offline appliance."""

__version__ = "0.1.0"
