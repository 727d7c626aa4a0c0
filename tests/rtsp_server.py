"""A real RTSP server for tests: Debian's GStreamer RTSP server serving an MP4 clip.

Run with Debian's /usr/bin/python3 (python3-gi lives there, not in the venv):
    /usr/bin/python3 tests/rtsp_server.py CLIP.mp4 PORT [--loop] [--user U --password P]
Prints "READY" on stdout once listening on 127.0.0.1:PORT/cam. Killing it is a camera
outage; starting it again is the camera coming back.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("port", type=int)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # Real-time pacing comes from the RTSP server's clock; the clip loops via the shared
    # media being rebuilt per client.
    factory.set_launch(
        f"( filesrc location={args.clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )"
    )
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit("cannot bind")
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
