#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/support/certs.sh DIR
# Writes the TLS tests' keys and certificates into DIR (made if missing), with the openssl
# command alone (no faketime). Keys are ECDSA P-256, which takes no time to make, but one.
#   ca.pem ca.key            the test CA ("nipc test CA")
#   ca2.pem ca2.key          a second CA nobody trusts ("nipc other CA")
#   server.pem server.key    from ca: CN localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1
#   client.pem client.key    from ca: CN "nipc test client", O "nipc", clientAuth
#   expired.pem expired.key  from ca, like server.pem but valid in 2020 only
#   future.pem future.key    from ca, like server.pem but valid from 2090 only
#   other.pem other.key      from ca2, like server.pem
#   client2.pem client2.key  from ca2, like client.pem
#   wrongname.pem .key       from ca: CN and SAN DNS:elsewhere.example only
#   rsa.pem rsa.key          from ca, like server.pem with an RSA 2048 key (DHE suites)
#   server-enc.key           server.key encrypted with the passphrase "secret"
#   dhparam.pem              the RFC 7919 ffdhe2048 group: generating DH parameters takes
#                            seconds, and a named group is what a server should use anyway
# The past and future dates come from `openssl ca -startdate/-enddate`, since OpenSSL 3.0's
# x509 and req commands only count days forward from now.
set -euo pipefail

dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"

# One configuration for req and ca, so nothing comes from the system's openssl.cnf (whose
# req section would mark a self-signed leaf as a CA).
cat >openssl.cnf <<EOF
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
[wrongname_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:elsewhere.example
[client_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ca]
default_ca = test_ca
[test_ca]
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[any_name]
commonName = supplied
EOF
export OPENSSL_CONF=$dir/openssl.cnf
: >index.txt
echo 01 >serial

key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc)

# self-signed CA: <name> <CN>
make_ca() {
    openssl req -x509 "${key[@]}" -keyout "$1.key" -out "$1.pem" -days 3650 \
        -subj "/CN=$2" -extensions ca_ext 2>/dev/null
}
# leaf signed by a CA: <name> <ca> <subject> <extensions section>
make_leaf() {
    openssl req "${key[@]}" -keyout "$1.key" -out "$1.pem" -days 3650 \
        -CA "$2.pem" -CAkey "$2.key" -subj "$3" -extensions "$4" 2>/dev/null
}
# leaf from ca with the validity given: <name> <start> <end> (YYYYMMDDHHMMSSZ)
make_dated() {
    openssl req -new "${key[@]}" -keyout "$1.key" -out "$1.csr" -subj /CN=localhost 2>/dev/null
    openssl ca -batch -notext -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" \
        -startdate "$2" -enddate "$3" -extensions server_ext 2>/dev/null
    rm -f "$1.csr"
}

make_ca ca "nipc test CA"
make_ca ca2 "nipc other CA"
make_leaf server ca /CN=localhost server_ext
make_leaf client ca "/O=nipc/CN=nipc test client" client_ext
make_leaf other ca2 /CN=localhost server_ext
make_leaf client2 ca2 "/O=nipc/CN=nipc other client" client_ext
make_leaf wrongname ca /CN=elsewhere.example wrongname_ext
make_dated expired 20200101000000Z 20200201000000Z
make_dated future 20900101000000Z 20900201000000Z
key=(-newkey rsa:2048 -noenc)
make_leaf rsa ca /CN=localhost server_ext
openssl pkey -in server.key -aes256 -passout pass:secret -out server-enc.key
openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dhparam.pem
# openssl ca's bookkeeping and its copies of the certificates it signed.
rm -f index.txt* serial* ./[0-9A-F][0-9A-F].pem
