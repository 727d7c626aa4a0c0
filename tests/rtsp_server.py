"""A real RTSP server for tests: Debian's GStreamer RTSP server serving an MP4 clip, or
recording what a client pushes to it.

Run with Debian's /usr/bin/python3 (python3-gi lives there, not in the venv):
    /usr/bin/python3 tests/rtsp_server.py CLIP.mp4 PORT [--user U --password P]
    /usr/bin/python3 tests/rtsp_server.py --record OUT.ts PORT [--user U --password P]
Prints "READY" on stdout once listening on 127.0.0.1:PORT/cam. Killing it is a camera
outage; starting it again is the camera coming back. With ``--record`` it takes an H.264
stream pushed with RTSP ANNOUNCE/RECORD (FFmpeg's rtsp muxer) on every path under
127.0.0.1:PORT/ (``/cam``, ``/a``, ``/b`` ...) and writes the one pushed to ``/NAME`` into
``OUT`` with NAME before its suffix (``OUT.NAME.ts``; ``/cam`` into OUT itself), MPEG-TS:
readable while it is being written and after a kill.
"""

import argparse
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

RECORD_PATHS = ("cam", "a", "b", "c", "front", "back")


def _permissions() -> GstRtspServer.RTSPPermissions:
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("user", "media.factory.access", True)
    permissions.add_permission_for_role("user", "media.factory.construct", True)
    return permissions


def _record_factory(out: Path, path: str) -> GstRtspServer.RTSPMediaFactory:
    target = out if path == "cam" else out.with_name(f"{out.stem}.{path}{out.suffix}")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
    factory.set_launch(
        "( rtph264depay name=depay0 ! h264parse ! mpegtsmux ! "
        f"filesink location={target} buffer-mode=unbuffered )"
    )
    return factory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", nargs="?", default="")
    parser.add_argument("port", type=int)
    parser.add_argument("--record", type=Path, help="take pushed streams into this .ts")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.record:
        factories = {f"/{p}": _record_factory(args.record, p) for p in RECORD_PATHS}
    else:
        factory = GstRtspServer.RTSPMediaFactory()
        # Real-time pacing comes from the RTSP server's clock; the clip loops via the
        # shared media being rebuilt per client.
        factory.set_launch(
            f"( filesrc location={args.clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )"
        )
        factory.set_shared(True)
        factories = {"/cam": factory}
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        for factory in factories.values():
            factory.set_permissions(_permissions())
    for mount, factory in factories.items():
        server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        sys.exit("cannot bind")
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
