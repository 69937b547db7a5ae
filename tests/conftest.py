"""Shared fixtures: offline environment, one local Ray per session, a moto S3 server on loopback."""

import os

# Before anything imports boto/hf/ray: nothing may leave the machine.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_ACCESS_KEY_ID"] = "testing-key-id"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing-secret-value"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import pytest  # noqa: E402
import torch  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole test session, bound to 127.0.0.1."""
    from rayedit.cluster.runtime import init_ray, shutdown_ray

    info = init_ray(num_cpus=2)
    yield info
    shutdown_ray()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 (random port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket on the moto server; yields (endpoint, bucket name)."""
    import s3fs

    name = "b-" + request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:50]
    fs = s3fs.S3FileSystem(endpoint_url=s3_server)
    fs.mkdir(name)
    yield s3_server, name
