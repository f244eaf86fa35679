# Sourced by the bench scripts: subset SOURCE PER_CLASS DEST makes DEST a class-balanced image
# folder of links to the first PER_CLASS images (in sorted order) of each class folder of SOURCE.
# An existing DEST is kept; an interrupted one (DEST.part) is made again.
subset() {
    [ -d "$3" ] && return
    rm -rf "$3.part"
    for d in "$1"/*/; do
        mkdir -p "$3.part/$(basename "$d")"
        find "$d" -maxdepth 1 -type f | sort | awk -v n="$2" "NR <= n" | while read -r f; do ln -s "$(realpath "$f")" "$3.part/$(basename "$d")/"; done
    done
    mv "$3.part" "$3"
}
