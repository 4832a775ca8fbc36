#!/usr/bin/env bash
# Generate the credentials docker-compose.yml mounts as Docker secrets: one file per secret in
# deploy/secrets/ (never committed; the repository's .gitignore lists it).
#
#   deploy/generate-secrets.sh                     create whatever is missing; never touch existing files
#   deploy/generate-secrets.sh --rotate redis      new password for one credential (see below), then
#                                                  follow "Rotating a secret" in docs/deploy.md
#   deploy/generate-secrets.sh --dir DIR --postgres-host H --redis-host H
#                                                  the same set for another place (Kubernetes: see docs)
#
# Credentials (--rotate takes these names) and the files each one writes:
#   postgres-superuser     postgres_superuser_password                                 bootstrap superuser, postgres container only
#   postgres-owner         postgres_owner_password, database_url_owner                 owns the schema; `cerebro migrate`
#   cerebro-memory         cerebro_memory_password, database_url_memory                memory service
#   cerebro-memory-worker  cerebro_memory_worker_password, database_url_memory_worker  embeddings and reconciliation workers
#   cerebro-gateway        cerebro_gateway_password, database_url_gateway              gateway
#   cerebro-consensus      cerebro_consensus_password, database_url_consensus          consensus service
#   redis                  redis_password, redis_url                                   Redis and its clients
#   grafana-admin          grafana_admin_password                                      Grafana's admin user
#   mesh-certificates      <process>_tls_cert, <process>_tls_key                       each Cerebro process's certificate
#                          (and operator_tls_cert/_key, for tools)                     (mutual TLS inside the mesh), issued
#                                                                                      by the mesh CA
#
# Passwords are 192 random bits in hex: safe in URLs, shells and config files without any quoting.
# The mesh CA (mesh_ca_cert, and mesh_ca_key, which no container mounts) is made once, with openssl; a
# process certificate names its role twice: the URI SAN spiffe://cerebro/<process> (what servers check)
# and the DNS SAN <process>.cerebro.internal (what clients check). Certificates are issued again when
# missing, expiring within 30 days, not from the current CA, or rotated; a new CA: delete mesh_ca_*.
set -Eeuo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$repo_root/deploy/secrets"
postgres_host=postgres
redis_host=redis
database=cerebro
owner=cerebro
rotate=()

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while (($#)); do
  case "$1" in
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --postgres-host) postgres_host="${2:?--postgres-host needs a host[:port]}"; shift 2 ;;
    --redis-host) redis_host="${2:?--redis-host needs a host[:port]}"; shift 2 ;;
    --rotate) rotate+=("${2:?--rotate needs a credential name}"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "generate-secrets: unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
for r in "${rotate[@]+"${rotate[@]}"}"; do
  case "$r" in
    postgres-superuser|postgres-owner|cerebro-memory|cerebro-memory-worker|cerebro-gateway|cerebro-consensus|redis|grafana-admin|mesh-certificates) ;;
    *) echo "generate-secrets: --rotate $r: unknown credential (see --help)" >&2; exit 2 ;;
  esac
done
[[ $postgres_host == *:* ]] || postgres_host="$postgres_host:5432"
[[ $redis_host == *:* ]] || redis_host="$redis_host:6379"

# Created 0700 so no other account on the host can look inside. The files themselves are 0644: compose
# bind-mounts each one into containers that run as different users (postgres 999, redis 999, Cerebro
# 10001, Grafana 472), and the directory's mode is what keeps them private on the host.
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

new_password() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# write NAME CONTENT: atomically (a reader never sees half a file), mode 0644, without a trailing newline.
write() {
  local target="$dir/$1" tmp
  tmp="$(mktemp "$dir/.$1.XXXXXX")"
  printf '%s' "$2" >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$target"
  echo "generate-secrets: wrote $target" >&2
}

# credential NAME PASSWORD_FILE: the password to use, new if the credential is being rotated or its
# file is missing, the existing one otherwise. Prints nothing; sets $password and $changed.
credential() {
  local name="$1" file="$dir/$2" r
  changed=false
  for r in "${rotate[@]+"${rotate[@]}"}"; do
    [[ $r == "$name" ]] && changed=true
  done
  if [[ $changed == false && -s $file ]]; then
    password="$(<"$file")"
  else
    password="$(new_password)"
    changed=true
  fi
}

# Each credential's files are written together, so a URL never disagrees with its password file.
credential postgres-superuser postgres_superuser_password
[[ $changed == true ]] && write postgres_superuser_password "$password"

credential postgres-owner postgres_owner_password
if [[ $changed == true || ! -s $dir/database_url_owner ]]; then
  write postgres_owner_password "$password"
  write database_url_owner "postgresql://$owner:$password@$postgres_host/$database"
fi

for service in memory memory_worker gateway consensus; do
  role="cerebro_$service"
  credential "${role//_/-}" "${role}_password"
  if [[ $changed == true || ! -s $dir/database_url_$service ]]; then
    write "${role}_password" "$password"
    write "database_url_$service" "postgresql://$role:$password@$postgres_host/$database"
  fi
done

credential redis redis_password
if [[ $changed == true || ! -s $dir/redis_url ]]; then
  write redis_password "$password"
  write redis_url "redis://:$password@$redis_host/0"
fi

credential grafana-admin grafana_admin_password
[[ $changed == true ]] && write grafana_admin_password "$password"

# --- Mesh certificates (ECDSA P-256) -------------------------------------------------------------------
scratch="$(mktemp -d "$dir/.tls.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# install NAME FILE: FILE's content as secret NAME (atomically, mode 0644, like every other secret).
install() {
  chmod 644 "$2"
  mv -f "$2" "$dir/$1"
  echo "generate-secrets: wrote $dir/$1" >&2
}

if [[ ! -s $dir/mesh_ca_cert || ! -s $dir/mesh_ca_key ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=Cerebro mesh CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$scratch/ca.key" -out "$scratch/ca.crt" 2>/dev/null
  install mesh_ca_key "$scratch/ca.key"
  install mesh_ca_cert "$scratch/ca.crt"
fi

rotate_certificates=false
for r in "${rotate[@]+"${rotate[@]}"}"; do
  [[ $r == mesh-certificates ]] && rotate_certificates=true
done

# certificate ROLE: the certificate of one process (or of the operator's tools), unless a valid one exists.
certificate() {
  local role="$1" name="${1//-/_}" usage="serverAuth,clientAuth" names
  local cert="$dir/${name}_tls_cert"
  names="URI:spiffe://cerebro/$role,DNS:$role.cerebro.internal,DNS:$role,DNS:localhost"
  if [[ $role == operator ]]; then
    usage="clientAuth"
    names="URI:spiffe://cerebro/operator"
  fi
  if [[ $rotate_certificates == false && -s $cert && -s $dir/${name}_tls_key ]] &&
    openssl verify -CAfile "$dir/mesh_ca_cert" "$cert" >/dev/null 2>&1 &&
    openssl x509 -in "$cert" -noout -checkend 2592000 >/dev/null; then
    return
  fi
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=cerebro $role" \
    -keyout "$scratch/$name.key" -out "$scratch/$name.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$usage" "$names" >"$scratch/$name.ext"
  openssl x509 -req -in "$scratch/$name.csr" -CA "$dir/mesh_ca_cert" -CAkey "$dir/mesh_ca_key" \
    -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" -days 365 -extfile "$scratch/$name.ext" \
    -out "$scratch/$name.crt" 2>/dev/null
  install "${name}_tls_key" "$scratch/$name.key"
  install "${name}_tls_cert" "$scratch/$name.crt"
}

for role in gateway memory embedder consensus embeddings-worker reconciliation-worker operator; do
  certificate "$role"
done

echo "generate-secrets: secrets are in $dir" >&2
