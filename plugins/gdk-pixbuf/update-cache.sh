#!/bin/sh
# update-cache.sh: brings the gdk-pixbuf loaders cache up to date after make install or uninstall.
# Usage: update-cache.sh QUERY-LOADERS SYSTEM-MODULEDIR MODULEDIR CACHE
# When MODULEDIR is gdk-pixbuf's own module folder, its cache is regenerated, as distribution
# packages do.  Otherwise gdk-pixbuf does not look there, and CACHE is written for
# GDK_PIXBUF_MODULE_FILE: the system's loaders and those in MODULEDIR (so that programs using it
# still open PNG, JPEG, SVG...).  With no loader left in MODULEDIR, CACHE is removed.
set -e
query=$1 system=$2 dir=$3 cache=$4
same_dir() { [ -d "$1" ] && [ -d "$2" ] && [ "$(cd "$1" && pwd -P)" = "$(cd "$2" && pwd -P)" ]; }
if same_dir "$dir" "$system"; then
    echo " $query --update-cache"
    exec "$query" --update-cache
fi
set -- "$dir"/*.so
if [ ! -e "$1" ]; then
    rm -f "$cache"
    exit 0
fi
echo " $query $system/*.so $dir/*.so > $cache"
if ! "$query" "$system"/*.so "$@" >"$cache.tmp"; then
    rm -f "$cache.tmp"
    exit 1
fi
mv -f "$cache.tmp" "$cache"
