#!/usr/bin/env bash
# Makes the base images Dockerfile.example starts from, locally, for machines that cannot
# pull from an image registry (no registry is needed at any point):
#   localhost/hookrun-base/debian:12-slim          for debian:12-slim: debootstrap minbase bookworm
#   localhost/hookrun-base/nginx:bookworm          for nginx:1.27-bookworm: Debian's nginx-light
#                                                  run like the official image (see below)
#   localhost/hookrun-base/distroless-static:nonroot   for gcr.io/distroless/static-debian12:nonroot:
#                                                  no shell, no libc; CA certificates, passwd
# Each image carries a label with a hash of its inputs (this script, the host's extra CA
# certificates); an image that is missing or has another hash is rebuilt, the others are
# kept. They live in the project's image storage (build/storage.conf), outside the source tree.
# Prints the --build-arg options that select them, one per line:
#   build/base-images.sh | xargs buildah build -f Dockerfile.example --target nginx .
# ARCH=arm64 makes the same three for arm64 on any machine (debootstrap and the nginx
# install run under qemu-user: the qemu-aarch64 binfmt handler with the F flag, as
# build/arm64-root.sh sets it up), tagged with the architecture (debian:12-slim-arm64,
# nginx:bookworm-arm64, distroless-static:nonroot-arm64), for
#   ARCH=arm64 build/base-images.sh | xargs buildah build --platform linux/arm64 ...
# Environment: ARCH (amd64 or arm64; default the machine's), DEBIAN_MIRROR (default
# http://deb.debian.org/debian).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="$here/containers.conf" CONTAINERS_STORAGE_CONF="$here/storage.conf"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { echo "base-images: $*" >&2; }
host_arch=$(dpkg --print-architecture)
arch=${ARCH:-$host_arch}
case $arch in
  amd64|x86_64) arch=amd64 ;;
  arm64|aarch64) arch=arm64 ;;
  *) say "ARCH=$arch: amd64 or arm64"; exit 2 ;;
esac
# the machine's own architecture keeps the plain names; the other one is named with its arch
suffix=$([ "$arch" = "$host_arch" ] || echo "-$arch")
prefix=localhost/hookrun-base
DEBIAN=$prefix/debian:12-slim$suffix
NGINX=$prefix/nginx:bookworm$suffix
STATIC=$prefix/distroless-static:nonroot$suffix
LABEL=io.hookrun.base.inputs
if [ "$arch" != "$host_arch" ]; then
  handler=/proc/sys/fs/binfmt_misc/qemu-$([ "$arch" = arm64 ] && echo aarch64 || echo x86_64)
  if ! grep -qx enabled "$handler" 2>/dev/null || ! grep -q '^flags: .*F' "$handler"; then
    say "$arch programs do not run here: no qemu binfmt handler with the F flag ($handler);"
    say "build/arm64-root.sh sets it up (qemu-user-static, binfmt-support)"
    exit 1
  fi
fi
cleanup=()  # commands run at exit: temporary directories, working containers
trap 'for c in "${cleanup[@]}"; do $c >/dev/null 2>&1 || true; done' EXIT

# --- what the images are made of -----------------------------------------------------------------
# The host's own CA certificates (/usr/local/share/ca-certificates) go into the Debian image,
# with a pip.conf that makes pip use the system bundle: a network that presents its own CA to
# pip and apt works inside the build container as on the host.
extra_cas() { find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | LC_ALL=C sort; }
inputs=$( { echo "$arch"; cat "$0"; extra_cas | xargs -r cat; } | sha256sum | cut -c1-16)

current() {  # the image exists, was made from these inputs and is of this architecture
  [ "$(podman image inspect --format "{{index .Labels \"$LABEL\"}} {{.Architecture}}" "$1" 2>/dev/null)" \
    = "$inputs $arch" ]
}

# the official image's configuration: pid file, port 80, logs to the container's stdout/stderr
NGINX_CONF='user www-data;
worker_processes auto;
error_log /var/log/nginx/error.log notice;
pid /var/run/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}'
NGINX_SITE='server {
    listen 80;
    server_name localhost;
    location / { root /usr/share/nginx/html; index index.html; }
}'

make_debian() {
  local root
  root=$(mktemp -d /var/tmp/hookrun-debian.XXXXXX)
  cleanup+=("rm -rf $root $root.log")
  say "debootstrap --arch=$arch --variant=minbase bookworm ($mirror)"
  # a private mount namespace: the /proc and /sys debootstrap mounts in the root go with it
  unshare --mount --propagation private \
    debootstrap --arch="$arch" --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; return 1; }
  # like the slim image: no documentation, no package lists, no apt caches
  cat > "$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$root"/usr/share/{man,info,locale}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/log/*.log
  local ca
  mkdir -p "$root/usr/local/share/ca-certificates"
  extra_cas | while read -r ca; do cp "$ca" "$root/usr/local/share/ca-certificates/"; done
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
  say "podman import $DEBIAN"
  tar -C "$root" --numeric-owner -c . | podman import --quiet --os linux --arch "$arch" \
    --change 'CMD ["bash"]' --change "LABEL $LABEL=$inputs" - "$DEBIAN" >/dev/null
}

make_nginx() {
  say "$NGINX: nginx-light on $DEBIAN"
  local c
  c=$(buildah from --quiet --pull=never --arch "$arch" "$DEBIAN")
  cleanup+=("buildah rm $c")
  buildah run --network host "$c" -- sh -c 'apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && mkdir -p /usr/share/nginx/html && echo ok > /usr/share/nginx/html/index.html \
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log'
  buildah run "$c" -- sh -c "cat > /etc/nginx/nginx.conf && mkdir -p /etc/nginx/conf.d" <<<"$NGINX_CONF"
  buildah run "$c" -- sh -c "cat > /etc/nginx/conf.d/default.conf" <<<"$NGINX_SITE"
  buildah config --cmd '["nginx", "-g", "daemon off;"]' --port 80 --stop-signal SIGQUIT \
    --label "$LABEL=$inputs" "$c"
  buildah commit --quiet "$c" "$NGINX" >/dev/null
}

make_static() {
  say "$STATIC: CA certificates, passwd, nothing else"
  local c mnt
  c=$(buildah from --quiet --arch "$arch" scratch)
  cleanup+=("buildah rm $c")
  mnt=$(buildah mount "$c")
  mkdir -p "$mnt"/etc/ssl/certs "$mnt"/tmp "$mnt"/home/nonroot "$mnt"/root
  chmod 1777 "$mnt/tmp"
  chmod 0700 "$mnt/root"
  chown 65532:65532 "$mnt/home/nonroot"
  cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/"
  cat > "$mnt/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' > "$mnt/etc/group"
  printf 'hosts: files dns\n' > "$mnt/etc/nsswitch.conf"
  buildah umount "$c" >/dev/null
  buildah config --os linux --arch "$arch" --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --label "$LABEL=$inputs" "$c"
  buildah commit --quiet "$c" "$STATIC" >/dev/null
}

# --- build what is missing or stale, one run at a time ----------------------------------------------
mkdir -p /var/cache/hookrun
exec 9>/var/cache/hookrun/base-images.lock
flock 9
started=$SECONDS
built=()
current "$DEBIAN" || { make_debian; built+=(debian); }
# an image made on an older Debian base is made again
current "$NGINX" && [ ${#built[@]} -eq 0 ] || { make_nginx; built+=(nginx); }
current "$STATIC" || { make_static; built+=(static); }
say "$arch: ${built[*]:-nothing} built ($((SECONDS - started)) s); inputs $inputs"
echo "--build-arg=DEBIAN_IMAGE=$DEBIAN"
echo "--build-arg=NGINX_IMAGE=$NGINX"
echo "--build-arg=STATIC_IMAGE=$STATIC"
