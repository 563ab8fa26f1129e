#!/usr/bin/env bash
# Builds tandem_<version>_amd64.deb with dpkg-deb from `swift build -c release` products.
#
#   scripts/build-deb.sh [--output DIR] [--scratch-path DIR] [--bin-dir DIR] [--version V]
#
#   --output DIR        where the .deb goes (default: .build/deb)
#   --scratch-path DIR  SwiftPM scratch directory for the release build (default: .build);
#                       a test running inside `swift test` passes its own, since SwiftPM
#                       locks the scratch directory it runs in
#   --bin-dir DIR       package the tandem-sampler and tandem-aggregator found in DIR
#                       instead of building (they must not need the Swift runtime libraries)
#   --version V         package version (default: what `tandem-aggregator --version` prints)
#
# TANDEM_DEB_XZ_LEVEL (default 6) is the xz level of the data archive; tests use 1.
#
# The binaries are built with the Swift standard library linked statically, so the package
# depends only on Debian's own libraries (computed by dpkg-shlibdeps). Prints the path of
# the package on its last line.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
output="$root/.build/deb"
scratch="$root/.build"
bin_dir=""
version=""
swift="${SWIFT:-swift}"

while (($#)); do
    case "$1" in
        --output) output="$2"; shift 2 ;;
        --scratch-path) scratch="$2"; shift 2 ;;
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb: unknown argument '$1'; see --help" >&2; exit 64 ;;
    esac
done

for tool in dpkg-deb dpkg-shlibdeps strip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        case "$tool" in
            strip) package=binutils ;;
            *) package=dpkg-dev ;;
        esac
        echo "build-deb: '$tool' is missing; install it with: apt-get install $package" >&2
        exit 69
    fi
done

if [ -z "$bin_dir" ]; then
    echo "build-deb: swift build -c release --static-swift-stdlib --disable-local-rpath (scratch path $scratch)" >&2
    (cd "$root" && "$swift" build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$scratch" \
        --product tandem-sampler >&2)
    (cd "$root" && "$swift" build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$scratch" \
        --product tandem-aggregator >&2)
    # swift-argument-parser's generate-manual turns each tool's --experimental-dump-help
    # into an mdoc manual page.
    (cd "$root" && "$swift" build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$scratch" \
        --product generate-manual >&2)
    bin_dir="$(cd "$root" && "$swift" build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$scratch" --show-bin-path)"
fi
for binary in tandem-sampler tandem-aggregator; do
    if [ ! -x "$bin_dir/$binary" ]; then
        echo "build-deb: $bin_dir/$binary does not exist or is not executable" >&2
        exit 66
    fi
done

if [ -z "$version" ]; then
    version="$("$bin_dir/tandem-aggregator" --version)"
fi
if ! [[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
    echo "build-deb: '$version' is not a Debian version (it must start with a digit)" >&2
    exit 65
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/tandem"
packaging="$root/packaging"

install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" \
    "$stage/usr/lib/sysusers.d" "$stage/usr/lib/tmpfiles.d" "$stage/etc/tandem" \
    "$stage/usr/share/doc/tandem"

for binary in tandem-sampler tandem-aggregator; do
    install -m 0755 "$bin_dir/$binary" "$stage/usr/bin/$binary"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/$binary"
done
for unit in tandem-sampler.service tandem-aggregator.service tandem-aggregator.socket; do
    install -m 0644 "$packaging/systemd/$unit" "$stage/lib/systemd/system/$unit"
done
install -m 0644 "$packaging/sysusers.d/tandem.conf" "$stage/usr/lib/sysusers.d/tandem.conf"
install -m 0644 "$packaging/tmpfiles.d/tandem.conf" "$stage/usr/lib/tmpfiles.d/tandem.conf"
install -m 0644 "$packaging/tandem.yml" "$stage/etc/tandem/tandem.yml"
if [ -x "$bin_dir/generate-manual" ]; then
    install -d -m 0755 "$stage/usr/share/man/man1" "$work/man"
    for binary in tandem-sampler tandem-aggregator; do
        "$bin_dir/generate-manual" "$bin_dir/$binary" --output-directory "$work/man" \
            --date "$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)" >&2
        gzip -9n < "$work/man/$binary.1" > "$stage/usr/share/man/man1/$binary.1.gz"
        chmod 0644 "$stage/usr/share/man/man1/$binary.1.gz"
    done
else
    echo "build-deb: no generate-manual in $bin_dir: the package has no manual pages" >&2
fi
install -m 0644 "$packaging/debian/copyright" "$stage/usr/share/doc/tandem/copyright"
install -d -m 0755 "$stage/usr/share/lintian/overrides"
install -m 0644 "$packaging/debian/lintian-overrides" "$stage/usr/share/lintian/overrides/tandem"
if [ -f "$root/docs/deployment.md" ]; then
    install -m 0644 "$root/docs/deployment.md" "$stage/usr/share/doc/tandem/deployment.md"
fi
date="$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$date/" "$packaging/debian/changelog" \
    | gzip -9n > "$stage/usr/share/doc/tandem/changelog.gz"
chmod 0644 "$stage/usr/share/doc/tandem/changelog.gz"

for script in postinst prerm postrm; do
    install -m 0755 "$packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo "/etc/tandem/tandem.yml" > "$stage/DEBIAN/conffiles"
chmod 0644 "$stage/DEBIAN/conffiles"

# Shared-library dependencies, as dpkg-shlibdeps finds them (it wants a debian/control).
install -d "$work/shlibs/debian"
printf 'Source: tandem\n\nPackage: tandem\nArchitecture: amd64\n' > "$work/shlibs/debian/control"
shlibs="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$stage/usr/bin/tandem-sampler" \
    -e"$stage/usr/bin/tandem-aggregator" 2>"$work/shlibdeps.err")" || {
    cat "$work/shlibdeps.err" >&2
    echo "build-deb: dpkg-shlibdeps failed (a binary linked against a library no Debian package provides?)" >&2
    exit 70
}
shlibs="${shlibs#shlibs:Depends=}"

installed_size="$(du -k -s --apparent-size --exclude=DEBIAN "$stage" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    -e "s/@SHLIBS_DEPENDS@/$shlibs/" "$packaging/debian/control.in" > "$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/control"

(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$output"
deb="$output/tandem_${version}_amd64.deb"
dpkg-deb --build -Zxz -z"${TANDEM_DEB_XZ_LEVEL:-6}" --root-owner-group "$stage" "$deb" >&2
echo "$deb"
