"""awsme: a demo microservice that tells where it runs."""

from awsme.version import VERSION

__all__ = ["VERSION"]
