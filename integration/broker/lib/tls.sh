# shellcheck shell=bash
# --tls / --mtls: a throwaway CA and certificates made with openssl, the broker's TLS listeners, and
# client settings for tools. Test-only material: every start makes new keys (docs/broker.md).
#
# A --tls single node on port P has these listeners:
#   P    SSL (SASL_SSL with --sasl): the good broker certificate (localhost / 127.0.0.1)
#   P+1  CONTROLLER (PLAINTEXT, as for every instance)
#   P+2  EXPIRED (SSL): a certificate whose validity ended before it began
#   P+3  WRONGHOST (SSL): a certificate for wrong-host.invalid only, signed by the same CA
#   P+4  INTERNAL (PLAINTEXT): the broker's own connections, and "a plaintext port" for tests
# so one broker serves every TLS error a client must report.

readonly TLS_DAYS=3650

instance_is_tls() { [[ -f $(instance_dir "$1")/tls ]]; }
instance_is_mtls() { [[ -f $(instance_dir "$1")/mtls ]]; }
tls_dir() { printf '%s/certs\n' "$(instance_dir "$1")"; }

expired_port() { printf '%s\n' $(($(broker_port "$1" 1) + 2)); }
wronghost_port() { printf '%s\n' $(($(broker_port "$1" 1) + 3)); }
internal_port() { printf '%s\n' $(($(broker_port "$1" 1) + 4)); }

require_openssl() {
  command -v openssl >/dev/null 2>&1 || die "--tls needs openssl (Debian: apt-get install openssl)"
}

# An EC P-256 key in PKCS#8 ("BEGIN PRIVATE KEY"): the form Kafka's PEM key store reads.
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign_cert DIR NAME CN DAYS SAN EKU: NAME.key and NAME.crt signed by DIR/ca, plus NAME.pem = key +
# certificate chain, the layout of Kafka's PEM key store file (ssl.keystore.type=PEM).
sign_cert() {
  local dir=$1 name=$2 cn=$3 days=$4 san=$5 eku=$6
  new_key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$san" "$eku" \
    >"$dir/$name.ext"
  # -days -1 puts notAfter a day before notBefore: a certificate that is already expired.
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  cat "$dir/$name.key" "$dir/$name.crt" "$dir/ca.crt" >"$dir/$name.pem"
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

generate_tls_material() {
  local dir
  dir=$(tls_dir "$1")
  mkdir -p "$dir"
  new_key "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -subj /CN=kafkatx-test-ca -days "$TLS_DAYS" \
    -out "$dir/ca.crt" 2>/dev/null
  # A second CA nobody trusts, for "unknown CA" tests.
  new_key "$dir/other-ca.key"
  openssl req -x509 -new -key "$dir/other-ca.key" -subj /CN=kafkatx-other-ca -days "$TLS_DAYS" \
    -out "$dir/other-ca.crt" 2>/dev/null
  sign_cert "$dir" broker localhost "$TLS_DAYS" 'DNS:localhost,IP:127.0.0.1' serverAuth,clientAuth
  sign_cert "$dir" client alice "$TLS_DAYS" 'DNS:alice' clientAuth
  sign_cert "$dir" expired localhost -1 'DNS:localhost,IP:127.0.0.1' serverAuth
  sign_cert "$dir" wronghost wrong-host.invalid "$TLS_DAYS" 'DNS:wrong-host.invalid' serverAuth
  chmod 600 "$dir"/*.key "$dir"/*.pem
}

# The client listener's name in the broker's config (and the security protocol it speaks).
tls_listener_name() { if instance_is_sasl "$1"; then echo SASL_SSL; else echo SSL; fi; }

tls_listener_settings() {
  local name=$1 port=$2 controller=$3 dir listener lower scram=org.apache.kafka.common.security.scram.ScramLoginModule
  local expired wronghost internal
  dir=$(tls_dir "$name")
  listener=$(tls_listener_name "$name")
  lower=${listener,,}
  expired=$(expired_port "$name")
  wronghost=$(wronghost_port "$name")
  internal=$(internal_port "$name")
  cat <<PROPS
listeners=$listener://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller,EXPIRED://127.0.0.1:$expired,WRONGHOST://127.0.0.1:$wronghost,INTERNAL://127.0.0.1:$internal
advertised.listeners=$listener://127.0.0.1:$port,EXPIRED://127.0.0.1:$expired,WRONGHOST://127.0.0.1:$wronghost,INTERNAL://127.0.0.1:$internal
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,$listener:$listener,EXPIRED:SSL,WRONGHOST:SSL
# PEM key stores (KIP-651): the private key (unencrypted) followed by the certificate chain.
ssl.keystore.type=PEM
ssl.keystore.location=$dir/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/ca.crt
listener.name.expired.ssl.keystore.type=PEM
listener.name.expired.ssl.keystore.location=$dir/expired.pem
listener.name.wronghost.ssl.keystore.type=PEM
listener.name.wronghost.ssl.keystore.location=$dir/wronghost.pem
PROPS
  if instance_is_mtls "$name"; then
    printf 'listener.name.%s.ssl.client.auth=required\n' "$lower"
  fi
  if instance_is_sasl "$name"; then
    cat <<PROPS
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.$lower.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.$lower.scram-sha-256.sasl.jaas.config=$scram required;
listener.name.$lower.scram-sha-512.sasl.jaas.config=$scram required;
connections.max.reauth.ms=$SASL_SESSION_MS
PROPS
  fi
}

# Java client settings for the instance's TLS listener (client.properties).
tls_client_properties() {
  local name=$1 dir
  dir=$(tls_dir "$name")
  printf 'security.protocol=%s\n' "$(tls_listener_name "$name")"
  printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$dir/ca.crt"
  if instance_is_mtls "$name"; then
    printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\n' "$dir/client.pem"
  fi
  if instance_is_sasl "$name"; then
    printf 'sasl.mechanism=SCRAM-SHA-512\n'
    printf 'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";\n' \
      "$SASL_USER" "$SASL_PASSWORD"
  fi
}

# The same for kcat (librdkafka names; PLAIN for the reason given at sasl_kcat_config).
tls_kcat_config() {
  local name=$1 dir
  dir=$(tls_dir "$name")
  printf 'security.protocol=%s\n' "$(tls_listener_name "$name" | tr '[:upper:]' '[:lower:]')"
  printf 'ssl.ca.location=%s\n' "$dir/ca.crt"
  if instance_is_mtls "$name"; then
    printf 'ssl.certificate.location=%s\nssl.key.location=%s\n' "$dir/client.crt" "$dir/client.key"
  fi
  if instance_is_sasl "$name"; then
    printf 'sasl.mechanisms=PLAIN\nsasl.username=%s\nsasl.password=%s\n' "$SASL_USER" "$SASL_PASSWORD"
  fi
}

# kafkatx producer settings (Java names, SASL credentials as sasl.username/sasl.password), one
# KEY=VALUE a line, for --producer-property / --producer-props.
tls_kafkatx_properties() {
  local name=$1 dir
  dir=$(tls_dir "$name")
  printf 'security.protocol=%s\n' "$(tls_listener_name "$name")"
  printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$dir/ca.crt"
  if instance_is_mtls "$name"; then
    printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\n' "$dir/client.pem"
  fi
  if instance_is_sasl "$name"; then
    printf 'sasl.mechanism=SCRAM-SHA-512\nsasl.username=%s\nsasl.password=%s\n' "$SASL_USER" "$SASL_PASSWORD"
  fi
}

write_tls_client_files() {
  local name=$1 dir
  dir=$(instance_dir "$name")
  tls_client_properties "$name" >"$dir/client.properties"
  tls_kcat_config "$name" >"$dir/kcat.conf"
  tls_kafkatx_properties "$name" >"$dir/kafkatx.properties"
}

tls_note() {
  if instance_is_tls "$1"; then
    printf ', %s' "$(tls_listener_name "$1")"
    if instance_is_mtls "$1"; then printf ' with client certificates'; fi
  fi
}
