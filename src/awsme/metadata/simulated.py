"""`-metadata=simulated`: the simulator's values, with no server and no network.

The EC2 source talks to the simulator's ASGI app in-process, so the simulated
values travel the same code path (tokens, listings, JSON documents) as on EC2.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from awsme.imds import create_imds_app, load_instance_data
from awsme.metadata.ec2 import Ec2Source
from awsme.metadata.source import make_http_client

# Any origin works for an in-process transport; this one cannot be mistaken for
# a real metadata service and resolves nowhere.
IN_PROCESS_URL = "http://imds.simulated.invalid"


def simulated_source(data_path: str | Path | None = None) -> Ec2Source:
    app = create_imds_app(load_instance_data(data_path))
    client = make_http_client(IN_PROCESS_URL, transport=httpx.ASGITransport(app=app))
    return Ec2Source(IN_PROCESS_URL, client=client, source_name="simulated")
