#!/usr/bin/env bash
# shell_agent.sh: a Cerebro agent with nothing but a shell, walking the gateway's whole agent API.
#
# The same steps and the same canonical protobuf JSON go over one of two transports:
#   CEREBRO_TRANSPORT=http  curl against the gateway's HTTP/JSON face   (CEREBRO_GATEWAY_HTTP)
#   CEREBRO_TRANSPORT=grpc  grpcurl with server reflection, plaintext  (CEREBRO_GATEWAY_TARGET)
# Signed requests (joining the mesh, proposals, votes) are built with printf in the byte layout of
# protos/cerebro/consensus/v1/consensus.proto and signed by openssl with the agent's own Ed25519 key:
# the gateway forwards them and never signs for an agent.
#
# Settings (environment):
#   CEREBRO_TRANSPORT        http (default) or grpc
#   CEREBRO_GATEWAY_HTTP     base URL of the HTTP face (default http://localhost:8080)
#   CEREBRO_GATEWAY_TARGET   host:port of the gateway's gRPC port (default localhost:50051)
#   CEREBRO_API_KEY_FILE     file holding the API key (or CEREBRO_API_KEY, the key itself)
#   CEREBRO_AGENT_NAME       the instance name the API key is bound to (default NEXUS)
#   CEREBRO_AGENT_KEY_FILE   Ed25519 private key, PEM (default ~/.cerebro/agents/<name>.pem; created if missing)
#   CEREBRO_REGION           region the agent registers in (default local)
#   CEREBRO_CALL_TIMEOUT     seconds for one call (default 30)
#   CEREBRO_STREAM_SECONDS   seconds a bounded stream read lasts at most (default 5)
# Needs bash 4.4+, jq, openssl 3 (Ed25519 with -rawin), base64, GNU date, and curl or grpcurl.
set -euo pipefail
shopt -s inherit_errexit

readonly SERVICE=cerebro.gateway.v1.AgentGateway
transport=${CEREBRO_TRANSPORT:-http}
http_base=${CEREBRO_GATEWAY_HTTP:-http://localhost:8080}
http_base=${http_base%/}
grpc_target=${CEREBRO_GATEWAY_TARGET:-localhost:50051}
agent_name=${CEREBRO_AGENT_NAME:-NEXUS}
key_file=${CEREBRO_AGENT_KEY_FILE:-$HOME/.cerebro/agents/$agent_name.pem}
region=${CEREBRO_REGION:-local}
call_timeout=${CEREBRO_CALL_TIMEOUT:-30}
stream_seconds=${CEREBRO_STREAM_SECONDS:-5}
# A capability only this agent has, so that DistributeTask must choose it.
own_capability="shell-agent:$agent_name"
capabilities=(shell-agent "$own_capability")

die() {
    printf 'shell_agent: %s\n' "$*" >&2
    exit 1
}

say() {
    printf '%s\n' "$*"
}

need() {
    command -v "$1" >/dev/null || die "$1 is required on PATH"
}

for tool in jq openssl base64 date wc; do
    need "$tool"
done
case $transport in
    http) need curl ;;
    grpc) need grpcurl ;;
    *) die "CEREBRO_TRANSPORT must be http or grpc, not '$transport'" ;;
esac
[[ $(date +%s%6N) =~ ^[0-9]+$ ]] || die "date must be GNU date (it has to print microseconds with %6N)"
[[ $call_timeout =~ ^[0-9]+([.][0-9]+)?$ ]] || die "CEREBRO_CALL_TIMEOUT must be seconds, not '$call_timeout'"
[[ $stream_seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || die "CEREBRO_STREAM_SECONDS must be seconds, not '$stream_seconds'"
[[ $agent_name =~ ^[^[:space:][:cntrl:]]+$ ]] || die "CEREBRO_AGENT_NAME must be one word, not '$agent_name'"

if [[ -n ${CEREBRO_API_KEY_FILE:-} ]]; then
    [[ -r $CEREBRO_API_KEY_FILE ]] || die "CEREBRO_API_KEY_FILE: cannot read $CEREBRO_API_KEY_FILE"
    api_key=$(<"$CEREBRO_API_KEY_FILE")
elif [[ -n ${CEREBRO_API_KEY:-} ]]; then
    api_key=$CEREBRO_API_KEY
else
    die "set CEREBRO_API_KEY_FILE (or CEREBRO_API_KEY) to the agent's API key"
fi
api_key=${api_key//[$'\t\r\n ']/}

scratch=$(mktemp -d)
instance_id=""
joined=false
on_exit() {
    local status=$?
    # An agent that fails after joining leaves the mesh now, rather than when its lease lapses.
    if ((status != 0)) && [[ $joined == true ]]; then
        (deregister) >&2 || true
    fi
    rm -rf "$scratch"
}
trap on_exit EXIT
# The key goes to curl in a file (mktemp -d is private), and to grpcurl through its environment, never on argv.
printf 'Authorization: Bearer %s\n' "$api_key" >"$scratch/authorization"

# --- JSON -------------------------------------------------------------------------------------------

# grpcurl prints proto field names (snake_case), the HTTP face JSON names (lowerCamelCase); both are
# canonical protobuf JSON. This turns grpcurl's into JSON names, leaving the keys of Struct values alone.
readonly JSON_NAMES='
def camel: gsub("_(?<c>[a-z0-9])"; .c | ascii_upcase);
def names:
  if type == "object" then
    with_entries(.key |= camel
      | if (.key | IN("metadata", "content", "stateData", "workingContext", "relationships", "context",
                      "actionDetails", "contextState", "result"))
        then . else .value |= names end)
  elif type == "array" then map(names)
  else . end;
names'

# grpcurl 1.8 (its jsonpb) does not read a FieldMask's canonical JSON form "a,bC", only the message
# form {"paths": ["a", "b_c"]} (fullstorydev/grpcurl#393), which the HTTP face rightly refuses. Every
# FieldMask of the gateway API is a top-level updateMask: it is rewritten for grpcurl alone.
readonly GRPCURL_FIELD_MASKS='
def snake: gsub("(?<c>[A-Z])"; "_" + (.c | ascii_downcase));
if (.updateMask | type) == "string"
then .updateMask = {paths: (.updateMask | split(",") | map(select(. != "") | snake))}
else . end'

# One line for a google.rpc.Status: its code by name, message and details.
# shellcheck disable=SC2016  # a jq program, not shell
readonly STATUS_LINE='
["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
 "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
 "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"] as $names
| "\($names[.code] // "code") (\(.code)): \(.message)"
  + (if (.details // []) == [] then "" else " \(.details | tojson)" end)'

# failed METHOD WHAT FILE: reports a failed call (the server's status when FILE holds one) and fails.
failed() {
    local method=$1 what=$2 file=$3 status
    if status=$(jq -r "$JSON_NAMES | $STATUS_LINE" "$file" 2>/dev/null) && [[ -n $status ]]; then
        die "$method failed: $what $status"
    fi
    die "$method failed: $what $(head -c 2000 "$file")"
}

# http_parts PATH BODY < REQUEST: the URL path, body and query string of a request by its
# google.api.http rule: path variables fill the path, BODY ("*", a field, or "") is the body, the
# other fields are query parameters.
http_parts() {
    jq -c --arg path "$1" --arg body "$2" '
        def camel: gsub("_(?<c>[a-z0-9])"; .c | ascii_upcase);
        def fields: split(".") | map(camel);
        . as $request
        | reduce ($path | [scan("\\{([^}]+)\\}") | .[0]] | .[]) as $variable
            ({path: $path, rest: $request};
             .path |= (split("{" + $variable + "}")
                       | join($request | getpath($variable | fields) // "" | tostring | @uri))
             | .rest |= delpaths([$variable | fields]))
        | if $body == "*" then .payload = .rest | .rest = {}
          elif $body == "" then .payload = null
          else .payload = .rest[$body | camel] | .rest |= del(.[$body | camel])
          end
        | .query = ([.rest | paths(type != "object" and type != "array" and . != null) as $p
                     | "\($p | map(select(type == "string")) | join("."))=\(getpath($p) | tostring | @uri)"]
                    | join("&"))'
}

# grpc METHOD SECONDS < REQUEST: grpcurl, by reflection, with the API key from the environment.
grpc() {
    jq -c "$GRPCURL_FIELD_MASKS" >"$scratch/request"
    # shellcheck disable=SC2016  # grpcurl itself expands ${CEREBRO_AUTHORIZATION} (-expand-headers)
    CEREBRO_AUTHORIZATION="Bearer $api_key" grpcurl -plaintext -emit-defaults -format-error \
        -max-time "$2" -expand-headers -H 'authorization: ${CEREBRO_AUTHORIZATION}' -d @ \
        "$grpc_target" "$SERVICE/$1" <"$scratch/request"
}

# call METHOD HTTP_VERB HTTP_PATH HTTP_BODY REQUEST: one unary call of AgentGateway/METHOD with the
# canonical JSON REQUEST; HTTP_VERB, HTTP_PATH and HTTP_BODY are the method's google.api.http rule.
# Prints the response as JSON, or the server's error on stderr and fails.
call() {
    local method=$1 verb=$2 path=$3 body=$4 request=$5 parts url status rc=0
    jq -e 'type == "object"' <<<"$request" >/dev/null 2>&1 || die "$method: the request is not a JSON object"
    case $transport in
        http)
            parts=$(http_parts "$path" "$body" <<<"$request")
            url=$http_base$(jq -r .path <<<"$parts")
            [[ $(jq -r .query <<<"$parts") == "" ]] || url+="?$(jq -r .query <<<"$parts")"
            local args=(-sS --max-time "$call_timeout" -X "$verb" -H @"$scratch/authorization"
                -o "$scratch/response" -w '%{http_code}')
            if [[ $(jq -c .payload <<<"$parts") != null ]]; then
                jq -c .payload <<<"$parts" >"$scratch/request"
                args+=(-H 'Content-Type: application/json' --data-binary @"$scratch/request")
            fi
            : >"$scratch/response"
            status=$(curl "${args[@]}" "$url") || rc=$?
            ((rc == 0)) || die "$method failed: curl exited with $rc ($verb $url)"
            [[ $status == 2?? ]] || failed "$method" "HTTP $status" "$scratch/response"
            jq -c . "$scratch/response"
            ;;
        grpc)
            grpc "$method" "$call_timeout" <<<"$request" >"$scratch/response" 2>"$scratch/stderr" || rc=$?
            # With -format-error, grpcurl prints the status of a failed call on stderr as JSON.
            ((rc == 0)) || failed "$method" "grpcurl exited with $rc:" "$scratch/stderr"
            jq -c "$JSON_NAMES" "$scratch/response"
            ;;
    esac
}

# stream METHOD HTTP_PATH REQUEST SECONDS: reads a server stream until it ends or for SECONDS at most,
# printing each message as one JSON line. Fails on any error but the end of those SECONDS.
stream() {
    local method=$1 path=$2 request=$3 seconds=$4 parts url status rc=0
    case $transport in
        http)
            parts=$(http_parts "$path" "" <<<"$request")
            url=$http_base$(jq -r .path <<<"$parts")
            [[ $(jq -r .query <<<"$parts") == "" ]] || url+="?$(jq -r .query <<<"$parts")"
            : >"$scratch/stream"
            status=$(curl -sS -N --max-time "$seconds" -H @"$scratch/authorization" -o "$scratch/stream" \
                -w '%{http_code}' "$url" 2>"$scratch/stderr") || rc=$?
            # 28: --max-time reached, the bounded read is over.
            ((rc == 0 || rc == 28)) || failed "$method" "curl exited with $rc:" "$scratch/stderr"
            [[ $status == 200 ]] || failed "$method" "HTTP $status" "$scratch/stream"
            # One JSON object per complete line: {"result": message}, or a last {"error": status}.
            [[ ! -s $scratch/stream || $(tail -c 1 "$scratch/stream" | wc -l) -eq 1 ]] ||
                sed -i '$d' "$scratch/stream"
            if (($(jq -s 'map(select(.error != null and .error.code != 4)) | length' "$scratch/stream") > 0)); then
                jq -c 'select(.error != null) | .error' "$scratch/stream" | tail -n 1 >"$scratch/response"
                failed "$method" "stream error" "$scratch/response"
            fi
            jq -c 'select(.result != null) | .result' "$scratch/stream"
            ;;
        grpc)
            grpc "$method" "$seconds" <<<"$request" >"$scratch/stream" 2>"$scratch/stderr" || rc=$?
            # DEADLINE_EXCEEDED (4): -max-time reached, the bounded read is over.
            if ((rc != 0)) && [[ $(jq -r .code "$scratch/stderr" 2>/dev/null) != 4 ]]; then
                failed "$method" "grpcurl exited with $rc:" "$scratch/stderr"
            fi
            jq -c "$JSON_NAMES" "$scratch/stream"
            ;;
    esac
}

# --- signed payloads (cerebro/consensus/signatures.py) -----------------------------------------------

# bytes N COUNT: N as COUNT big-endian bytes.
bytes() {
    local escapes="" i
    for ((i = $2 - 1; i >= 0; i--)); do escapes+=$(printf '\\0%03o' $((($1 >> (8 * i)) & 255))); done
    printf '%b' "$escapes"
}
u32() { bytes "$1" 4; }
i64() { bytes "$1" 8; }
tag() { printf 'cerebro.consensus.v1.%s\0' "$1"; }
str() {
    u32 "$(printf '%s' "$1" | wc -c)"
    printf '%s' "$1"
}
list() {
    u32 "$#"
    local item
    for item in "$@"; do str "$item"; done
}
blob() {
    u32 "$(wc -c <"$1")"
    cat "$1"
}
flag() { if [[ $1 == true ]]; then printf '\001'; else printf '\000'; fi; }

# sign FILE: the agent's Ed25519 signature of FILE's bytes, base64.
sign() { openssl pkeyutl -sign -rawin -inkey "$key_file" -in "$1" | base64 | tr -d '\n'; }

now_us() { date +%s%6N; }
# rfc3339 MICROSECONDS: a google.protobuf.Timestamp in JSON, exact to the microsecond that is signed.
rfc3339() { printf '%s.%06dZ' "$(date -u -d "@$(($1 / 1000000))" +%Y-%m-%dT%H:%M:%S)" "$(($1 % 1000000))"; }
uuid4() {
    local hex
    hex=$(openssl rand -hex 16)
    printf '%s-%s-4%s-%x%s-%s\n' "${hex:0:8}" "${hex:8:4}" "${hex:13:3}" $((0x${hex:16:1} & 3 | 8)) \
        "${hex:17:3}" "${hex:20:12}"
}

# --- the agent ---------------------------------------------------------------------------------------

if [[ ! -s $key_file ]]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$key_file" 2>/dev/null)
    say "key: created the Ed25519 key $key_file"
fi
chmod 600 "$key_file"
openssl pkey -in "$key_file" -pubout -outform DER | tail -c 32 >"$scratch/public_key"
public_key=$(base64 <"$scratch/public_key" | tr -d '\n')

lease_us=0
renewed_us=0

register() {
    local signed response
    signed=$(now_us)
    {
        tag RegisterInstance
        str "$agent_name"
        str primary
        str "$region"
        list "${capabilities[@]}"
        list
        blob "$scratch/public_key"
        flag true
        i64 "$signed"
    } >"$scratch/payload"
    response=$(call RegisterInstance POST /neural-mesh/instances '*' "$(jq -n \
        --arg name "$agent_name" --arg region "$region" --arg key "$public_key" \
        --arg time "$(rfc3339 "$signed")" --arg signature "$(sign "$scratch/payload")" \
        --args '{instance: {instanceName: $name, instanceType: "INSTANCE_TYPE_PRIMARY", region: $region,
                            capabilities: $ARGS.positional, publicKey: $key, voting: true},
                 signTime: $time, signature: $signature}' "${capabilities[@]}")")
    instance_id=$(jq -r .instance.instanceId <<<"$response")
    joined=true
    lease_us=$(jq '.leaseTtlSeconds * 1000000 | floor' <<<"$response")
    renewed_us=$signed
    say "RegisterInstance: $agent_name joined the mesh as instance $instance_id" \
        "($(jq -r '.instance.status' <<<"$response"), created=$(jq -r .created <<<"$response")," \
        "lease $(jq -r .leaseTtlSeconds <<<"$response") s, capabilities ${capabilities[*]})"
}

renew() {
    local signed response
    signed=$(now_us)
    { tag Heartbeat && str "$instance_id" && i64 "$signed"; } >"$scratch/payload"
    response=$(call RenewInstanceLease POST '/neural-mesh/instances/{instance_id}:renewLease' '*' "$(jq -n \
        --arg id "$instance_id" --arg time "$(rfc3339 "$signed")" --arg signature "$(sign "$scratch/payload")" \
        '{instanceId: $id, signTime: $time, signature: $signature}')")
    renewed_us=$signed
    say "RenewInstanceLease: lease of $agent_name renewed until $(jq -r .instance.leaseExpireTime <<<"$response")"
}

# Renews the lease once a third of it has passed, as a long-running agent would in the background.
keep_lease() {
    if (($(now_us) - renewed_us >= lease_us / 3)); then renew; fi
}

deregister() {
    local signed response
    signed=$(now_us)
    { tag DeregisterInstance && str "$instance_id" && i64 "$signed"; } >"$scratch/payload"
    response=$(call DeregisterInstance POST '/neural-mesh/instances/{instance_id}:deregister' '*' "$(jq -n \
        --arg id "$instance_id" --arg time "$(rfc3339 "$signed")" --arg signature "$(sign "$scratch/payload")" \
        '{instanceId: $id, signTime: $time, signature: $signature}')")
    say "DeregisterInstance: $agent_name left the mesh ($(jq -r .instance.status <<<"$response"))"
}

episodes() {
    local response first_episode
    response=$(call Remember POST /memory/action '*' "$(jq -n --arg id "$(uuid4)" --arg name "$agent_name" \
        '{requestId: $id, content: "\($name) tuned the reconnect backoff of the mesh from a shell",
          tags: ["shell", "session"]}')")
    first_episode=$(jq -r .episode.episodeId <<<"$response")
    say "Remember: stored episode $first_episode ($(jq -r '.episode.content' <<<"$response"))"
    response=$(call Remember POST /memory/action '*' "$(jq -n --arg id "$(uuid4)" '{requestId: $id,
        actionType: "system_optimization_complete",
        actionDetails: {component: "reconnect backoff", gain_percent: 35},
        contextState: {load: "low", shell: true}, tags: ["ops", "shell"], importance: 0.8}')")
    say "Remember: stored action system_optimization_complete as episode $(jq -r .episode.episodeId <<<"$response")" \
        "(metadata.action: $(jq -c .episode.metadata.action <<<"$response"))"
    # A backfill: several episodes in one call, all stored or none, each idempotent by its request id.
    response=$(call RememberBatch POST /memory/action:batch '*' "$(jq -n --arg a "$(uuid4)" --arg b "$(uuid4)" \
        '{episodes: [{requestId: $a, content: "the shell agent backfilled the first line of its log",
                      tags: ["shell", "backfill"]},
                     {requestId: $b, content: "the shell agent backfilled the second line of its log",
                      tags: ["shell", "backfill"]}]}')")
    (($(jq '.episodes | length' <<<"$response") == 2)) || die "RememberBatch stored fewer than 2 episodes"
    say "RememberBatch: stored $(jq '.episodes | length' <<<"$response") episodes in one call"

    response=$(call Recall POST /memory/search '*' '{"query": "reconnect backoff", "topK": 5}')
    (($(jq '.hits | length' <<<"$response") > 0)) || die "Recall found nothing for 'reconnect backoff'"
    say "Recall: $(jq '.hits | length' <<<"$response") hit(s) for 'reconnect backoff'," \
        "best: $(jq -r '.hits[0].episode.content' <<<"$response")"

    response=$(call ListRecentEpisodes GET /memory/episodic/recent '' '{"pageSize": 10}')
    (($(jq '.episodes | length' <<<"$response") >= 2)) || die "ListRecentEpisodes lists fewer than 2 episodes"
    say "ListRecentEpisodes: $(jq '.episodes | length' <<<"$response") episode(s), newest first:" \
        "$(jq -r '.episodes[0].content' <<<"$response")"

    # Correct the first episode: new content is embedded again, so vector search finds it by it.
    response=$(call UpdateEpisode PATCH '/memory/episodic/{episode.episode_id}' episode "$(jq -n \
        --arg id "$first_episode" --arg name "$agent_name" '{episode: {episodeId: $id,
            content: "\($name) tuned the reconnect backoff of the mesh from a shell, with jitter",
            tags: ["shell", "session", "corrected"]}, updateMask: "content,tags"}')")
    say "UpdateEpisode: corrected episode $first_episode (tags $(jq -c .episode.tags <<<"$response")," \
        "embedding $(jq -r .episode.embeddingState <<<"$response"))"

    # Two scratch notes: one deleted by id, one forgotten by a filter (counted first, in a dry run).
    local scratch_ids=() index
    for index in 1 2; do
        response=$(call Remember POST /memory/action '*' "$(jq -n --arg id "$(uuid4)" --arg index "$index" \
            '{requestId: $id, content: "scratch note \($index) of the shell agent", tags: ["scratch-\($index)"]}')")
        scratch_ids+=("$(jq -r .episode.episodeId <<<"$response")")
        say "Remember: stored scratch note ${scratch_ids[-1]}"
    done
    call DeleteEpisode DELETE '/memory/episodic/{episode_id}' '' \
        "$(jq -n --arg id "${scratch_ids[0]}" '{episodeId: $id}')" >/dev/null
    say "DeleteEpisode: deleted scratch note ${scratch_ids[0]}"
    response=$(call ForgetEpisodes POST /memory/episodic:forget '*' '{"filter": {"tags": ["scratch-2"]}}')
    [[ $(jq -r .forgetCount <<<"$response") == 1 ]] || die "ForgetEpisodes (dry run) counted: $response"
    say "ForgetEpisodes: a dry run would forget $(jq -r .forgetCount <<<"$response") episode(s)" \
        "$(jq -c .forgetSample <<<"$response")"
    response=$(call ForgetEpisodes POST /memory/episodic:forget '*' '{"filter": {"tags": ["scratch-2"]}, "force": true}')
    say "ForgetEpisodes: forgot $(jq -r .forgetCount <<<"$response") episode(s)"
}

projects() {
    local response project_id
    response=$(call CreateProject POST /memory/projects project "$(jq -n --arg id "$(uuid4)" \
        --arg name "Shell session $(date -u +%FT%T.%NZ)" '{requestId: $id,
            project: {displayName: $name, description: "What the shell agent worked on"}}')")
    project_id=$(jq -r .project.projectId <<<"$response")
    say "CreateProject: project $project_id ($(jq -r .project.displayName <<<"$response"))"
    response=$(call GetProject GET '/memory/projects/{project_id}' '' "$(jq -n --arg id "$project_id" '{projectId: $id}')")
    say "GetProject: $project_id is $(jq -r .project.status <<<"$response")"
    response=$(call ListProjects GET /memory/projects '' '{"pageSize": 10}')
    jq -e --arg id "$project_id" 'any(.projects[]; .projectId == $id)' <<<"$response" >/dev/null ||
        die "ListProjects does not list project $project_id"
    say "ListProjects: $(jq '.projects | length' <<<"$response") project(s), including $project_id"
    response=$(call ArchiveProject POST '/memory/projects/{project_id}:archive' '*' \
        "$(jq -n --arg id "$project_id" '{projectId: $id}')")
    say "ArchiveProject: $project_id is now $(jq -r .project.status <<<"$response")"
}

working_memory() {
    local response item_id
    response=$(call PutWorkingMemoryItem PUT /memory/working '*' "$(jq -n --arg id "$(uuid4)" '{requestId: $id,
        item: {contextType: "task", content: {task: "watch the reconnect backoff", step: 1},
               priority: "WORKING_MEMORY_PRIORITY_HIGH", ttl: "3600s"}}')")
    item_id=$(jq -r .item.itemId <<<"$response")
    say "PutWorkingMemoryItem: item $item_id (created=$(jq -r .created <<<"$response")," \
        "$(jq -r .item.priority <<<"$response"), expires $(jq -r .item.expireTime <<<"$response"))"
    response=$(call GetWorkingMemoryItem GET '/memory/working/{item_id}' '' \
        "$(jq -n --arg id "$item_id" '{itemId: $id}')")
    say "GetWorkingMemoryItem: item $item_id version $(jq -r .item.version <<<"$response"):" \
        "$(jq -c .item.content <<<"$response")"
    response=$(call ListWorkingMemoryItems GET /memory/working '' '{"contextType": "task"}')
    jq -e --arg id "$item_id" 'any(.items[]; .itemId == $id)' <<<"$response" >/dev/null ||
        die "ListWorkingMemoryItems does not list item $item_id"
    say "ListWorkingMemoryItems: $(jq '.items | length' <<<"$response") task item(s), including $item_id"
    call DeleteWorkingMemoryItem DELETE '/memory/working/{item_id}' '' \
        "$(jq -n --arg id "$item_id" '{itemId: $id}')" >/dev/null
    say "DeleteWorkingMemoryItem: deleted item $item_id"
}

memory_blocks() {
    local response label=shell_notes version
    response=$(call ListMemoryBlocks GET /memory/blocks '' '{}')
    say "ListMemoryBlocks: $(jq '.blocks | length' <<<"$response") block(s)" \
        "$(jq -c '[.blocks[].label]' <<<"$response")"
    if ! jq -e --arg name "$label" 'any(.blocks[]; .label == $name)' <<<"$response" >/dev/null; then
        response=$(call CreateMemoryBlock POST /memory/blocks block "$(jq -n --arg id "$(uuid4)" \
            --arg name "$label" '{requestId: $id, block: {label: $name,
                description: "Notes of the shell agent", value: "Started from a shell."}}')")
        say "CreateMemoryBlock: created block $label (version $(jq -r .block.version <<<"$response"))"
    fi
    response=$(call GetMemoryBlock GET '/memory/blocks/{label}' '' "$(jq -n --arg name "$label" '{label: $name}')")
    version=$(jq -r .block.version <<<"$response")
    say "GetMemoryBlock: $label version $version: $(jq -r .block.value <<<"$response")"
    response=$(call UpdateMemoryBlock PATCH '/memory/blocks/{block.label}' block "$(jq -n \
        --arg name "$label" --arg version "$version" --arg value "Last run: $(date -u +%FT%TZ)." \
        '{block: {label: $name, value: $value}, updateMask: "value", expectedVersion: $version}')")
    say "UpdateMemoryBlock: $label is now version $(jq -r .block.version <<<"$response"):" \
        "$(jq -r .block.value <<<"$response")"
    response=$(call ListMemoryBlockRevisions GET '/memory/blocks/{label}/revisions' '' \
        "$(jq -n --arg name "$label" '{label: $name, pageSize: 3}')")
    say "ListMemoryBlockRevisions: $label versions $(jq -c '[.revisions[].version | tonumber]' <<<"$response")" \
        "(newest first)"
}

checkpoints() {
    local response checkpoint_id
    response=$(call CreateCheckpoint POST /memory/checkpoints checkpoint "$(jq -n --arg id "$(uuid4)" \
        '{requestId: $id, checkpoint: {checkpointType: "session", stateData: {focus: "mesh health", step: 4}}}')")
    checkpoint_id=$(jq -r .checkpoint.checkpointId <<<"$response")
    say "CreateCheckpoint: checkpoint $checkpoint_id (identity hash" \
        "$(jq -r '.checkpoint.identityHash[0:16]' <<<"$response")...," \
        "$(jq -r .checkpoint.blockCount <<<"$response") block(s))"
    response=$(call RestoreCheckpoint POST /memory/checkpoints:restore '*' \
        "$(jq -n --arg id "$checkpoint_id" '{checkpointId: $id}')")
    say "RestoreCheckpoint: checkpoint $(jq -r .checkpoint.checkpointId <<<"$response")," \
        "continuity $(jq -r .continuityScore <<<"$response")," \
        "identity matches: $(jq -r .identityMatches <<<"$response")"
    response=$(call ListCheckpoints GET /memory/checkpoints '' '{"checkpointType": "session", "pageSize": 5}')
    jq -e --arg id "$checkpoint_id" 'any(.checkpoints[]; .checkpointId == $id)' <<<"$response" >/dev/null ||
        die "ListCheckpoints does not list checkpoint $checkpoint_id"
    say "ListCheckpoints: $(jq '.checkpoints | length' <<<"$response") session checkpoint(s), newest first"
    response=$(call GetCheckpoint GET '/memory/checkpoints/{checkpoint_id}' '' \
        "$(jq -n --arg id "$checkpoint_id" '{checkpointId: $id}')")
    say "GetCheckpoint: $checkpoint_id holds $(jq -c .checkpoint.stateData <<<"$response")"
}

identity() {
    local response
    response=$(call GetIdentityState GET /memory/identity '' '{}')
    say "GetIdentityState: version $(jq -r .state.version <<<"$response")," \
        "focus '$(jq -r .state.currentFocus <<<"$response")'"
    response=$(call UpdateIdentityState PATCH /memory/identity state '{
        "state": {"currentFocus": "mesh health from a shell",
                  "emotionalVector": {"focus": 0.9, "energy": 0.6, "excitement": 0.4}},
        "updateMask": "currentFocus,emotionalVector"}')
    say "UpdateIdentityState: focus '$(jq -r .state.currentFocus <<<"$response")'" \
        "(version $(jq -r .state.version <<<"$response"))"
    response=$(call Heartbeat POST /memory/identity:heartbeat '*' '{}')
    say "Heartbeat: alive at $(jq -r .state.lastHeartbeatTime <<<"$response")"
}

knowledge() {
    local response knowledge_id
    response=$(call UpsertKnowledge POST /memory/semantic '*' "$(jq -n --arg id "$(uuid4)" '{requestId: $id,
        knowledge: {concept: "exponential reconnect backoff",
                    definition: "Wait twice as long after each failed reconnect, up to a cap, with jitter.",
                    relationships: {used_by: ["gateway", "agents"]}, confidence: 0.9}}')")
    knowledge_id=$(jq -r .knowledge.semanticMemoryId <<<"$response")
    say "UpsertKnowledge: stored '$(jq -r .knowledge.concept <<<"$response")' as" \
        "$knowledge_id (created=$(jq -r .created <<<"$response"))"
    response=$(call SearchKnowledge GET /memory/semantic '' '{"query": "reconnect backoff", "topK": 3}')
    (($(jq '.hits | length' <<<"$response") > 0)) || die "SearchKnowledge found nothing for 'reconnect backoff'"
    say "SearchKnowledge: $(jq '.hits | length' <<<"$response") hit(s)," \
        "best: '$(jq -r '.hits[0].semanticMemory.concept' <<<"$response")'"
    response=$(call GetKnowledge GET '/memory/semantic/{semantic_memory_id}' '' \
        "$(jq -n --arg id "$knowledge_id" '{semanticMemoryId: $id}')")
    say "GetKnowledge: $knowledge_id is '$(jq -r .knowledge.concept <<<"$response")'"
    response=$(call LookupKnowledge GET /memory/semantic:lookup '' '{"concept": "Exponential Reconnect Backoff"}')
    [[ $(jq -r .knowledge.semanticMemoryId <<<"$response") == "$knowledge_id" ]] ||
        die "LookupKnowledge did not find $knowledge_id by its concept: $response"
    say "LookupKnowledge: 'Exponential Reconnect Backoff' is $knowledge_id (concepts compare ignoring case)"
    response=$(call ListKnowledge GET /memory/semantic:list '' '{"pageSize": 10}')
    say "ListKnowledge: $(jq '.knowledge | length' <<<"$response") piece(s) of knowledge, newest first"
    call DeleteKnowledge DELETE '/memory/semantic/{semantic_memory_id}' '' \
        "$(jq -n --arg id "$knowledge_id" '{semanticMemoryId: $id}')" >/dev/null
    say "DeleteKnowledge: deleted $knowledge_id"
}

mesh() {
    local response
    response=$(call ListConnectedInstances GET /neural-mesh/connected-agents '' '{}')
    jq -e --arg id "$instance_id" 'any(.instances[]; .instanceId == $id)' <<<"$response" >/dev/null ||
        die "ListConnectedInstances does not list $agent_name ($instance_id)"
    say "ListConnectedInstances: $(jq -r .totalConnected <<<"$response") connected:" \
        "$(jq -r '[.instances[].instanceName] | join(", ")' <<<"$response") (including $agent_name)"
}

decisions() {
    local response request_id deadline proposal_id signature electorate
    request_id=$(uuid4)
    deadline=$(($(now_us) + 3600 * 1000000))
    # No options: the proposal has the default "yes" and "no", and they are signed.
    {
        tag CreateProposal
        str "$request_id"
        str "$instance_id"
        str "Adopt the tuned reconnect backoff everywhere?"
        list yes no
        i64 "$deadline"
    } >"$scratch/payload"
    response=$(call Propose POST /neural-mesh/consensus '*' "$(jq -n --arg id "$request_id" \
        --arg proposer "$instance_id" --arg deadline "$(rfc3339 "$deadline")" \
        --arg signature "$(sign "$scratch/payload")" '{requestId: $id,
            topic: "Adopt the tuned reconnect backoff everywhere?", deadline: $deadline,
            proposerId: $proposer, proposerSignature: $signature}')")
    proposal_id=$(jq -r .proposal.proposalId <<<"$response")
    electorate=$(jq -r .proposal.electorateSize <<<"$response")
    say "Propose: proposal $proposal_id, options $(jq -c .proposal.options <<<"$response")," \
        "quorum $(jq -r .proposal.quorum <<<"$response") of $electorate"

    { tag Vote && str "$proposal_id" && str "$instance_id" && str yes; } >"$scratch/payload"
    signature=$(sign "$scratch/payload")
    response=$(call Vote POST '/neural-mesh/consensus/{proposal_id}:vote' '*' "$(jq -n --arg id "$proposal_id" \
        --arg voter "$instance_id" --arg signature "$signature" \
        '{proposalId: $id, voterId: $voter, choice: "yes", signature: $signature}')")
    say "Vote: $agent_name voted yes on $proposal_id: $(jq -r .proposal.state <<<"$response")" \
        "($(jq -r '[.proposal.tally[] | "\(.option)=\(.votes)"] | join(", ")' <<<"$response"))"

    response=$(call GetDecision GET '/neural-mesh/consensus/{proposal_id}' '' \
        "$(jq -n --arg id "$proposal_id" '{proposalId: $id}')")
    if ((electorate == 1)); then
        # The only elector's vote is a quorum of one.
        [[ $(jq -r '"\(.proposal.state) \(.proposal.decidedOption)"' <<<"$response") == \
            "PROPOSAL_STATE_DECIDED yes" ]] ||
            die "GetDecision: $proposal_id is not decided yes: $(jq -c .proposal <<<"$response")"
    fi
    say "GetDecision: proposal $proposal_id is $(jq -r .proposal.state <<<"$response")," \
        "decided option '$(jq -r .proposal.decidedOption <<<"$response")'," \
        "$(jq '.proposal.votes | length' <<<"$response") signed vote(s)" \
        "of $(jq -r .proposal.electorateSize <<<"$response") elector(s)"

    # The watch sends the proposal's current state, then every change, and ends at its outcome.
    response=$(stream WatchDecisions /neural-mesh/consensus:watch \
        "$(jq -n --arg id "$proposal_id" '{proposalId: $id}')" "$stream_seconds")
    [[ -n $response ]] || die "WatchDecisions sent nothing for $proposal_id"
    say "WatchDecisions: $(wc -l <<<"$response") event(s) for $proposal_id, last:" \
        "$(tail -n 1 <<<"$response" | jq -r '"\(.eventType) \(.proposal.state)"')"
}

learnings() {
    local response ids
    response=$(call PublishLearning POST /neural-mesh/cross-learning '*' "$(jq -n --arg id "$(uuid4)" \
        --arg name "$agent_name" '{learning: {learningId: $id, concept: "reconnect backoff with jitter",
            definition: "\($name) found that jitter stops reconnect storms after a gateway restart.",
            relationships: {source: "shell_agent.sh"}, confidence: 0.8}}')")
    say "PublishLearning: published learning $(jq -r .learning.learningId <<<"$response")" \
        "to $(jq -r .recipientCount <<<"$response") other subscriber(s)"
    # A bounded read: the stream stays open for new learnings, so it ends when the time is up.
    response=$(stream SubscribeLearnings /neural-mesh/cross-learning:subscribe '{}' "$stream_seconds")
    ids=$(jq -c -s '[.[].learning.learningId] | unique' <<<"$response")
    say "SubscribeLearnings: received $(jq length <<<"$ids") learning(s) in $stream_seconds s$(jq -r -s \
        'map("\(.learning.concept) (from \(.learning.publisher))") | unique
         | if length == 0 then "" else ": " + join("; ") end' <<<"$response")"
    if [[ $ids == "[]" ]]; then
        say "AcknowledgeLearnings: nothing to acknowledge"
        return
    fi
    response=$(call AcknowledgeLearnings POST /neural-mesh/cross-learning:acknowledge '*' \
        "$(jq -c '{learningIds: .}' <<<"$ids")")
    say "AcknowledgeLearnings: acknowledged $(jq -r .acknowledgedCount <<<"$response") of $(jq length <<<"$ids")"
}

emotions() {
    local response
    response=$(call GetSharedEmotionalState GET /neural-mesh/emotional-sync '' '{}')
    say "GetSharedEmotionalState: $(jq '.state.members | length' <<<"$response") member(s)"
    response=$(call UpdateSharedEmotionalState POST /neural-mesh/emotional-sync '*' '{
        "emotionalVector": {"focus": 0.8, "energy": 0.6, "excitement": 0.5},
        "context": {"about": "the reconnect backoff vote"}}')
    say "UpdateSharedEmotionalState: shared; $(jq '.state.members | length' <<<"$response") member(s)," \
        "mean focus $(jq -r '.state.mean.focus' <<<"$response")"
    # The state now, then after each change: a bounded read shows the first message.
    response=$(stream WatchSharedEmotionalState /neural-mesh/emotional-sync:watch '{}' 2)
    [[ -n $response ]] || die "WatchSharedEmotionalState sent nothing"
    say "WatchSharedEmotionalState: $(wc -l <<<"$response") state(s) in 2 s, its first: mean focus" \
        "$(head -n 1 <<<"$response" | jq -r '.state.mean.focus')"
}

# distribute DESCRIPTION: a task needing this agent's own capability, so it is assigned to this agent.
distribute() {
    call DistributeTask POST /neural-mesh/task-distribute '*' "$(jq -n --arg id "$(uuid4)" \
        --arg capability "$own_capability" --arg description "$1" '{requestId: $id,
            description: $description, requiredCapabilities: [$capability]}')"
}

tasks() {
    local response chosen task_id failing_id
    response=$(distribute "Roll out the tuned reconnect backoff")
    chosen=$(jq -r .assignment.instance.instanceName <<<"$response")
    task_id=$(jq -r .assignment.taskId <<<"$response")
    [[ $chosen == "$agent_name" ]] || die "DistributeTask chose $chosen, not $agent_name: $response"
    say "DistributeTask: task $task_id assigned to $chosen ($(jq -r .assignment.reason <<<"$response"))"

    # The inbox: every task assigned to this agent and not acknowledged yet, then new ones (a bounded read).
    response=$(stream WatchTasks /neural-mesh/tasks:watch '{}' "$stream_seconds")
    jq -e -s --arg id "$task_id" 'any(.[]; .task.taskId == $id)' <<<"$response" >/dev/null ||
        die "WatchTasks did not deliver task $task_id: $response"
    say "WatchTasks: received task $task_id at cursor" \
        "$(jq -r -s --arg id "$task_id" 'map(select(.task.taskId == $id))[0].cursor' <<<"$response")" \
        "($(jq -s length <<<"$response") unacknowledged task(s) in the inbox)"
    response=$(call GetTask GET '/neural-mesh/tasks/{task_id}' '' "$(jq -n --arg id "$task_id" '{taskId: $id}')")
    say "GetTask: task $task_id is $(jq -r .task.state <<<"$response")," \
        "acknowledge by $(jq -r .task.acknowledgeDeadline <<<"$response")"
    response=$(call AcknowledgeTask POST '/neural-mesh/tasks/{task_id}:acknowledge' '*' \
        "$(jq -n --arg id "$task_id" '{taskId: $id}')")
    say "AcknowledgeTask: task $task_id is $(jq -r .task.state <<<"$response")"
    response=$(call ReportTaskProgress POST '/neural-mesh/tasks/{task_id}:reportProgress' '*' \
        "$(jq -n --arg id "$task_id" '{taskId: $id, progress: 0.5, statusMessage: "half the replicas done"}')")
    say "ReportTaskProgress: task $task_id at $(jq -r .task.progress <<<"$response"):" \
        "$(jq -r .task.statusMessage <<<"$response")"
    response=$(call CompleteTask POST '/neural-mesh/tasks/{task_id}:complete' '*' \
        "$(jq -n --arg id "$task_id" '{taskId: $id, result: {replicas_updated: 3}}')")
    say "CompleteTask: task $task_id is $(jq -r .task.state <<<"$response")," \
        "result $(jq -c .task.result <<<"$response")"
    # What a distributor sees: the task as it is, then every change; the stream ends with the task.
    response=$(stream WatchTasks /neural-mesh/tasks:watch "$(jq -n --arg id "$task_id" '{taskId: $id}')" \
        "$stream_seconds")
    [[ $(tail -n 1 <<<"$response" | jq -r .task.state) == TASK_STATE_SUCCEEDED ]] ||
        die "WatchTasks of $task_id did not end with its success: $response"
    say "WatchTasks: task $task_id watched to its end: $(tail -n 1 <<<"$response" | jq -r .task.state)"

    response=$(distribute "Roll back the old backoff")
    failing_id=$(jq -r .assignment.taskId <<<"$response")
    say "DistributeTask: task $failing_id assigned to $(jq -r .assignment.instance.instanceName <<<"$response")"
    response=$(call AcknowledgeTask POST '/neural-mesh/tasks/{task_id}:acknowledge' '*' \
        "$(jq -n --arg id "$failing_id" '{taskId: $id}')")
    say "AcknowledgeTask: task $failing_id is $(jq -r .task.state <<<"$response")"
    response=$(call FailTask POST '/neural-mesh/tasks/{task_id}:fail' '*' "$(jq -n --arg id "$failing_id" \
        '{taskId: $id, errorMessage: "nothing to roll back", result: {checked_replicas: 3}}')")
    say "FailTask: task $failing_id is $(jq -r .task.state <<<"$response"): $(jq -r .task.errorMessage <<<"$response")"
    response=$(call ListTasks GET /neural-mesh/tasks '' '{"distributed": true, "pageSize": 10}')
    jq -e --arg succeeded "$task_id" --arg failed "$failing_id" \
        '[.tasks[].taskId] | index($succeeded) != null and index($failed) != null' <<<"$response" >/dev/null ||
        die "ListTasks does not list tasks $task_id and $failing_id: $response"
    say "ListTasks: $(jq '.tasks | length' <<<"$response") task(s) distributed by this agent:" \
        "$(jq -r '[.tasks[] | .state | sub("TASK_STATE_"; "")] | join(", ")' <<<"$response")"
}

system() {
    local response
    response=$(call GetStats GET /stats '' '{}')
    say "GetStats: namespace $(jq -r .namespace <<<"$response"):" \
        "$(jq -r .memory.episodesTotal <<<"$response") episode(s)," \
        "$(jq -r .memory.semanticMemoriesTotal <<<"$response") semantic memor(ies)," \
        "$(jq -r .connectedInstances <<<"$response") connected instance(s)," \
        "$(jq -r .publishedLearnings <<<"$response") learning(s) published"
    response=$(call GetHealth GET /health '' '{}')
    say "GetHealth: $(jq -r .status <<<"$response")" \
        "($(jq -r '[.components[] | "\(.name) \(.status | sub("HEALTH_STATUS_"; ""))"] | join(", ")' <<<"$response"))"
}

if [[ $transport == http ]]; then endpoint=$http_base; else endpoint=$grpc_target; fi
say "shell agent: $agent_name over $transport ($endpoint)"
register
renew
for section in episodes projects working_memory memory_blocks checkpoints identity knowledge mesh decisions learnings \
    emotions tasks system; do
    keep_lease
    "$section"
done
joined=false
deregister
say "shell agent done: $transport"
