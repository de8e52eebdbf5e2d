#!/bin/bash
# Mesh-like ECDSA P-256 chain: root -> intermediate -> leaves with SPIFFE URI SANs (ext.cnf).
set -e
mkdir -p certs && cd certs
openssl ecparam -name prime256v1 -genkey -noout -out root.key
openssl req -x509 -new -key root.key -subj "/O=bench/CN=root" -days 30 -out root.pem -extensions meshca -config <(cat /etc/ssl/openssl.cnf ../ext.cnf) 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out inter.key
openssl req -new -key inter.key -subj "/O=bench/CN=inter" -out inter.csr
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 -extfile ../ext.cnf -extensions meshca -out inter.pem 2>/dev/null
for who in server client; do
  openssl ecparam -name prime256v1 -genkey -noout -out $who.key
  openssl req -new -key $who.key -subj "/O=bench" -out $who.csr
  openssl x509 -req -in $who.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 30 -extfile ../ext.cnf -extensions mesh$who -out $who.pem 2>/dev/null
  cat $who.pem inter.pem > $who-chain.pem
  openssl pkcs8 -topk8 -nocrypt -in $who.key -out $who.p8
done
cp root.pem bundle.pem
