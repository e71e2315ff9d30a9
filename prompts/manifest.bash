# shellcheck shell=bash
# Reads a prompt manifest (manifest.csv) for prompts/generate and prompts/check-levels.
#
# Sourced, not run. The manifest is RFC 4180 CSV, one clip per line, header
# `clip,text,english[,spoken]`; fields holding a comma are double-quoted, a quote inside
# one is doubled. A field may not span lines (no prompt needs that, and refusing it keeps
# this parser small). The Rust side reads the same file with the `csv` crate, so anything
# this parser accepts must also be valid CSV there.

# The clip names a manifest may use: a message stem or digits/0..9. Checked so that a typo
# in the manifest can never write outside the prompt directory.
readonly MANIFEST_CLIP_PATTERN='^([a-z][a-z_]*|digits/[0-9])$'

# parse_csv_line LINE — splits one CSV line into the global array CSV_FIELDS.
# Returns 1 (with CSV_ERROR set) on an unterminated quote or text after a closing quote.
parse_csv_line() {
    local line=$1 field="" c next
    local -i i=0 n=${#line} quoted=0 after_quote=0
    CSV_FIELDS=()
    CSV_ERROR=""
    while ((i < n)); do
        c=${line:i:1}
        if ((quoted)); then
            if [[ $c == '"' ]]; then
                next=${line:i+1:1}
                if [[ $next == '"' ]]; then
                    field+='"'
                    i+=1
                else
                    quoted=0
                    after_quote=1
                fi
            else
                field+=$c
            fi
        elif [[ $c == ',' ]]; then
            CSV_FIELDS+=("$field")
            field=""
            after_quote=0
        elif ((after_quote)); then
            CSV_ERROR="text after a closing quote at column $((i + 1))"
            return 1
        elif [[ $c == '"' && -z $field ]]; then
            quoted=1
        else
            field+=$c
        fi
        i+=1
    done
    if ((quoted)); then
        CSV_ERROR="unterminated quoted field"
        return 1
    fi
    CSV_FIELDS+=("$field")
}

# read_manifest FILE — fills the global arrays MANIFEST_CLIPS, MANIFEST_TEXTS and
# MANIFEST_SPOKEN (what the synthesiser is given: the `spoken` column, or the written
# text when that is empty). Exits with a message naming the line on any malformed row.
read_manifest() {
    local file=$1 line header
    local -i lineno=0
    MANIFEST_CLIPS=()
    MANIFEST_TEXTS=()
    MANIFEST_SPOKEN=()
    [[ -r $file ]] || { echo "error: cannot read manifest $file" >&2; exit 1; }
    while IFS= read -r line || [[ -n $line ]]; do
        lineno+=1
        line=${line%$'\r'}
        [[ -z $line ]] && continue
        if ! parse_csv_line "$line"; then
            echo "error: $file:$lineno: $CSV_ERROR" >&2
            exit 1
        fi
        if ((lineno == 1)); then
            header=$(IFS=,; echo "${CSV_FIELDS[*]:0:3}")
            if [[ $header != "clip,text,english" ]]; then
                echo "error: $file:1: header must start with clip,text,english (found: $line)" >&2
                exit 1
            fi
            continue
        fi
        if ((${#CSV_FIELDS[@]} < 3 || ${#CSV_FIELDS[@]} > 4)); then
            echo "error: $file:$lineno: expected 3 or 4 fields, found ${#CSV_FIELDS[@]}" >&2
            exit 1
        fi
        if [[ ! ${CSV_FIELDS[0]} =~ $MANIFEST_CLIP_PATTERN ]]; then
            echo "error: $file:$lineno: bad clip name '${CSV_FIELDS[0]}' (want e.g. menu or digits/7)" >&2
            exit 1
        fi
        if [[ -z ${CSV_FIELDS[1]} ]]; then
            echo "error: $file:$lineno: clip ${CSV_FIELDS[0]} has no text" >&2
            exit 1
        fi
        local known
        for known in "${MANIFEST_CLIPS[@]}"; do
            if [[ $known == "${CSV_FIELDS[0]}" ]]; then
                echo "error: $file:$lineno: clip ${CSV_FIELDS[0]} is listed twice" >&2
                exit 1
            fi
        done
        MANIFEST_CLIPS+=("${CSV_FIELDS[0]}")
        MANIFEST_TEXTS+=("${CSV_FIELDS[1]}")
        MANIFEST_SPOKEN+=("${CSV_FIELDS[3]:-${CSV_FIELDS[1]}}")
    done <"$file"
    if ((${#MANIFEST_CLIPS[@]} == 0)); then
        echo "error: $file lists no clips" >&2
        exit 1
    fi
}
