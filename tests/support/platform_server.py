"""Stand-ins for the servers of the data platforms behind the gateway, for their real clients.

    python -m support.platform_server --port P

The echo upstream (support/echo_server.py: every request counted and recorded, the same control
paths), except that the API paths the platforms' client libraries call first answer the JSON
those clients expect, so the client call succeeds as it would against the real server:
    GET /pipeline/apis/v2beta1/healthz    Kubeflow Pipelines (the `kfp` SDK), multi-user
    GET /pipeline/apis/v2beta1/pipelines  one pipeline, `train`
    GET /api/gms/config                   DataHub GMS behind its frontend (`acryl-datahub`'s
                                          test_connection checks `noCode`)
Any other path answers what arrived, as the echo upstream does.
"""

import urllib.parse

from support.echo_server import EchoHandler
from support.serving import command_line, serve_threaded

ANSWERS = {
    "/pipeline/apis/v2beta1/healthz": {"commit_sha": "stand-in", "tag_name": "2.5.0",
                                       "multi_user": True},
    "/pipeline/apis/v2beta1/pipelines": {
        "pipelines": [{"pipeline_id": "6f1c3a52", "display_name": "train",
                       "created_at": "2026-01-01T00:00:00Z"}],
        "total_size": 1},
    "/api/gms/config": {"noCode": "true", "versions": {"acryldata/datahub": {"version": "v1.2.0"}}},
}


class PlatformHandler(EchoHandler):
    name = "platform"

    def answer(self, seen: dict) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path in ANSWERS:
            return self.send_json(200, ANSWERS[path])
        return super().answer(seen)


def main() -> None:
    serve_threaded(PlatformHandler, command_line(__doc__).parse_args().port)


if __name__ == "__main__":
    main()
