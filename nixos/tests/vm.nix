# checks.<system>.vm: boots the edge host, a CPU AI host (tiny models) and a
# WAN client; registers and logs in through nginx (HTTPS, HTTP/2), runs an
# image job to completion with the images in Garage (S3) on the edge, fetches
# the picture (X-Accel-Redirect to the presigned S3 proxy), calls the SOAP
# service from the API host, and proves the firewall drops a port that listens
# on the WAN address. Run: nix build .#checks.x86_64-linux.vm -L
{ config, lib, ... }:

let
  pkgs = config.hostPkgs;
  domain = "housify.test";
  # Test-only TLS and JWT material, generated at build time. These land in
  # the Nix store, which is acceptable only because nothing here is secret.
  testSecrets = pkgs.runCommand "housify-test-secrets" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    mkdir -p $out
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj /CN=${domain} -addext subjectAltName=DNS:${domain} \
      -keyout $out/tls.key -out $out/tls.crt
    # PostgreSQL on the LAN: a test CA and a server certificate for 10.0.1.10 (verify-full).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj /CN=housify-test-ca -keyout $out/pg-ca.key -out $out/pg-ca.crt
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=10.0.1.10 \
      -keyout $out/pg.key -out $out/pg.csr
    printf 'subjectAltName=IP:10.0.1.10\n' > $out/pg.ext
    openssl x509 -req -in $out/pg.csr -CA $out/pg-ca.crt -CAkey $out/pg-ca.key -CAcreateserial \
      -days 30 -extfile $out/pg.ext -out $out/pg.crt
    openssl ecparam -name secp521r1 -genkey -noout -out $out/jwt-private.pem
    openssl ec -in $out/jwt-private.pem -pubout -out $out/jwt-public.pem
    echo "rediss://housify-ai:test-redis-ai@10.0.1.10:6379/0?ssl_ca_certs=$out/pg-ca.crt" > $out/redis-url
    echo 'unix://housify-api:test-redis-api@/run/redis-housify/redis.sock' > $out/redis-url-local
    echo 'test-redis-password' > $out/redis-password
    echo 'test-redis-api' > $out/redis-password-api
    echo 'test-redis-ai' > $out/redis-password-ai
    echo 'test-ai-db-password' > $out/ai-db-password
    echo '10.0.1.10:5432:housify_ai:housify_ai:test-ai-db-password' > $out/pgpass
    openssl rand -hex 32 > $out/garage-rpc-secret
    openssl rand -base64 32 > $out/garage-admin-token
    echo "GK$(openssl rand -hex 12)" > $out/s3-access-key-id
    openssl rand -hex 32 > $out/s3-secret-access-key
  '';
  # The modules refuse secret paths inside the Nix store (by type), as on a
  # real host: copy them to /run/secrets at boot.
  secretsDir = "/run/secrets/housify";
  installSecrets = {
    systemd.tmpfiles.rules = [
      "d ${secretsDir} 0700 root root -"
      # nginx runs as user nginx and reads its key itself.
      "d /run/secrets/tls 0750 root nginx -"
      "C /run/secrets/tls/tls.key - - - - ${testSecrets}/tls.key"
      "z /run/secrets/tls/tls.key 0440 root nginx -"
      "C ${secretsDir}/jwt-private.pem - - - - ${testSecrets}/jwt-private.pem"
      "C ${secretsDir}/jwt-public.pem - - - - ${testSecrets}/jwt-public.pem"
      "C ${secretsDir}/redis-url - - - - ${testSecrets}/redis-url"
      "C ${secretsDir}/redis-url-local - - - - ${testSecrets}/redis-url-local"
      "C ${secretsDir}/redis-password - - - - ${testSecrets}/redis-password"
      "C ${secretsDir}/redis-password-api - - - - ${testSecrets}/redis-password-api"
      "C ${secretsDir}/redis-password-ai - - - - ${testSecrets}/redis-password-ai"
      "C ${secretsDir}/ai-db-password - - - - ${testSecrets}/ai-db-password"
      "C ${secretsDir}/pgpass - - - - ${testSecrets}/pgpass"
      "C ${secretsDir}/pg.key - - - - ${testSecrets}/pg.key"
      "C ${secretsDir}/garage-rpc-secret - - - - ${testSecrets}/garage-rpc-secret"
      "C ${secretsDir}/garage-admin-token - - - - ${testSecrets}/garage-admin-token"
      "C ${secretsDir}/s3-access-key-id - - - - ${testSecrets}/s3-access-key-id"
      "C ${secretsDir}/s3-secret-access-key - - - - ${testSecrets}/s3-secret-access-key"
    ];
  };
  s3 = endpointUrl: {
    backend = "s3";
    s3 = {
      inherit endpointUrl;
      accessKeyIdFile = "${secretsDir}/s3-access-key-id";
      secretAccessKeyFile = "${secretsDir}/s3-secret-access-key";
    };
  };
  lan = address: {
    virtualisation.vlans = lib.mkDefault [ 1 ];
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
      {
        inherit address;
        prefixLength = 24;
      }
    ];
    services.housify.firewall = {
      lanInterface = "eth1";
      internalSubnets = [ "10.0.1.0/24" ];
      managementSubnets = [ "10.0.1.0/24" ];
    };
    users.groups.housify.gid = 7400;
  };
in
{
  name = "housify";
  # The nodes add the overlay (nixpkgs.overlays): not read-only.
  node.pkgsReadOnly = false;
  defaults = {
    imports = [ ../modules/housify.nix ];
    nixpkgs.overlays = [ (import ../packages/overlay.nix) ];
  };

  nodes.edge =
    { pkgs, ... }:
    {
      imports = [
        installSecrets
        (lan "10.0.1.10")
      ];
      virtualisation.memorySize = 2048;
      # eth1: LAN (vlan 1); eth2: WAN (vlan 2), where the wan node lives.
      virtualisation.vlans = [
        1
        2
      ];
      networking.interfaces.eth2.ipv4.addresses = lib.mkForce [
        {
          address = "192.0.2.1";
          prefixLength = 24;
        }
      ];
      services.housify.firewall.wanInterface = "eth2";
      networking.hosts."127.0.0.1" = [ domain ];
      services.housify = {
        enable = true;
        inherit domain;
        tls = {
          acme = false;
          certificate = "${testSecrets}/tls.crt";
          certificateKey = "/run/secrets/tls/tls.key";
        };
        lan.address = "10.0.1.10";
        redis.passwordFile = "${secretsDir}/redis-password";
        redis.userPasswordFiles = {
          housify-api = "${secretsDir}/redis-password-api";
          housify-ai = "${secretsDir}/redis-password-ai";
        };
        postgresql.aiPasswordFile = "${secretsDir}/ai-db-password";
        postgresql.tls = {
          certificate = "${testSecrets}/pg.crt";
          certificateKey = "${secretsDir}/pg.key";
        };
        redis.tls = {
          certificate = "${testSecrets}/pg.crt";
          certificateKey = "${secretsDir}/pg.key";
        };
        aiServers = [ "10.0.1.20:8200" ];
        # One Garage node; the AI host uses its S3 API over the LAN.
        garage = {
          enable = true;
          replicationFactor = 1;
          rpcPublicAddress = "10.0.1.10:3901";
          s3ListenAddress = "0.0.0.0:3900";
          capacityGB = 1;
          manageLayout = true;
          rpcSecretFile = "${secretsDir}/garage-rpc-secret";
          adminTokenFile = "${secretsDir}/garage-admin-token";
          accessKeyIdFile = "${secretsDir}/s3-access-key-id";
          secretAccessKeyFile = "${secretsDir}/s3-secret-access-key";
        };
      };
      users.users.housify.uid = 7400;
      services.housify-api = {
        instances = 2;
        jwt = {
          privateKeyFile = "${secretsDir}/jwt-private.pem";
          publicKeyFile = "${secretsDir}/jwt-public.pem";
        };
        redis = {
          url = null;
          urlFile = "${secretsDir}/redis-url-local";
        };
        storage = s3 "http://127.0.0.1:3900";
      };
      # A listener on every address, WAN included, that the firewall must drop.
      systemd.services.wan-probe-target = {
        wantedBy = [ "multi-user.target" ];
        script = "exec ${pkgs.python3}/bin/python3 -m http.server --bind 0.0.0.0 9999";
      };
      # SOAP prices come from a local fake Binance (no network in the VM).
      services.housify-soap.binanceUrl = "http://127.0.0.1:8999";
      environment.systemPackages = [
        pkgs.curl
        pkgs.file
      ];
      systemd.services.fake-binance = {
        wantedBy = [ "multi-user.target" ];
        script = ''
          exec ${pkgs.python3}/bin/python3 -c '
          import http.server, json
          class H(http.server.BaseHTTPRequestHandler):
              def do_GET(self):
                  sym = self.path.split("symbol=")[-1]
                  body = json.dumps({"symbol": sym, "price": "50000.00"}).encode()
                  self.send_response(200); self.send_header("Content-Type", "application/json")
                  self.end_headers(); self.wfile.write(body)
          http.server.HTTPServer(("127.0.0.1", 8999), H).serve_forever()
          '
        '';
      };
    };

  nodes.ai =
    { pkgs, ... }:
    {
      imports = [
        installSecrets
        (lan "10.0.1.20")
      ];
      virtualisation.memorySize = 3072;
      services.housify-ai = {
        enable = true;
        device = "cpu";
        workers = 1;
        models.buildTiny = true;
        api.listenAddress = "10.0.1.20";
        database = {
          url = "postgresql://housify_ai@10.0.1.10:5432/housify_ai?sslmode=verify-full&sslrootcert=${testSecrets}/pg-ca.crt";
          passFile = "${secretsDir}/pgpass";
        };
        redis = {
          url = null;
          urlFile = "${secretsDir}/redis-url";
        };
        storage = s3 "http://10.0.1.10:3900";
      };
      users.users.housify-ai.uid = 7401;
      environment.systemPackages = [ pkgs.netcat ];
    };

  # The Internet side: reaches the edge's WAN address only.
  nodes.wan =
    { pkgs, ... }:
    {
      virtualisation.vlans = [ 2 ];
      networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
        {
          address = "192.0.2.2";
          prefixLength = 24;
        }
      ];
      networking.hosts."192.0.2.1" = [ domain ];
      environment.systemPackages = [ pkgs.curl ];
    };

  testScript = ''
    import json

    edge.start()
    edge.wait_for_unit("postgresql.service")
    edge.wait_for_unit("redis-housify.service")
    edge.wait_for_unit("housify-api-migrate.service")
    edge.wait_for_unit("housify-api-0.service")
    edge.wait_for_unit("housify-api-1.service")
    edge.wait_for_unit("housify-soap.service")
    edge.wait_for_unit("nginx.service")
    edge.wait_for_unit("garage.service")
    edge.wait_for_unit("housify-garage-setup.service")
    edge.wait_for_open_port(8100)
    edge.wait_for_open_port(8101)
    edge.wait_for_open_port(443)

    ai.start()
    ai.wait_for_unit("housify-ai-models.service")
    ai.wait_for_unit("housify-ai-migrate.service")
    ai.wait_for_unit("housify-ai-worker-0.service")
    ai.wait_for_unit("housify-ai-api.service")
    ai.wait_for_open_port(8200)

    curl = "curl --fail --silent --show-error --http2 --cacert ${testSecrets}/tls.crt"
    base = "https://${domain}"

    with subtest("nginx: TLS, HTTP/2, security headers, forced HTTPS"):
        edge.succeed(f"{curl} {base}/health")
        headers = edge.succeed(f"{curl} -I {base}/")
        assert "HTTP/2 200" in headers, headers
        assert "strict-transport-security" in headers.lower(), headers
        edge.succeed("curl --silent -o /dev/null -w '%{http_code}' http://${domain}/ | grep -q 301")

    with subtest("register and log in"):
        edge.succeed(
            f"{curl} -X POST {base}/auth/register -H 'Content-Type: application/json' "
            "-d '{\"email\": \"vm@housify.test\", \"password\": \"correct horse battery\"}'"
        )
        token = json.loads(edge.succeed(
            f"{curl} -X POST {base}/auth/token "
            "-d grant_type=password -d username=vm@housify.test -d 'password=correct horse battery'"
        ))["access_token"]
        auth = f"-H 'Authorization: Bearer {token}'"

    with subtest("a text2img job runs on the AI host and its picture is served"):
        job = json.loads(edge.succeed(
            f"{curl} -X POST {base}/jobs {auth} -H 'Content-Type: application/json' "
            "-d '{\"task\": \"text2img\", \"prompt\": \"a bright kitchen\", \"steps\": 2, \"width\": 64, \"height\": 64}'"
        ))
        edge.wait_until_succeeds(
            f"{curl} {base}/jobs/{job['id']} {auth} | grep -q '\"status\": *\"succeeded\"'", timeout=600
        )
        result = json.loads(edge.succeed(f"{curl} {base}/jobs/{job['id']} {auth}"))
        image_id = result["image_id"]
        edge.succeed(f"{curl} {base}/images/{image_id}/content {auth} -o /tmp/out.png")
        edge.succeed("file /tmp/out.png | grep -q 'PNG image'")

    with subtest("the API host calls the SOAP service"):
        edge.succeed("curl --fail --silent http://127.0.0.1:8300/soap?wsdl | grep -q CryptoRateService")
        plans = edge.succeed(f"{curl} '{base}/subscriptions?currency=BTC'")
        assert "Pro-Tier" in plans, plans

    with subtest("firewall: LAN subnet reaches PostgreSQL, Redis and S3"):
        ai.succeed("nc -z -w 3 10.0.1.10 5432")
        ai.succeed("nc -z -w 3 10.0.1.10 6379")
        ai.succeed("nc -z -w 3 10.0.1.10 3900")

    with subtest("firewall: from the WAN only 80 and 443; a port listening there is dropped"):
        wan.start()
        wan.wait_for_unit("network.target")
        edge.wait_for_open_port(9999)
        # The probe target answers on the WAN address (from the edge itself)...
        edge.succeed("curl --fail --silent --max-time 5 -o /dev/null http://192.0.2.1:9999/")
        wan.succeed(f"curl --fail --silent --max-time 10 --cacert ${testSecrets}/tls.crt https://${domain}/health")
        wan.succeed("curl --silent --max-time 10 -o /dev/null -w '%{http_code}' http://${domain}/ | grep -q 301")
        # ...but from the WAN the connection times out (curl 28: dropped), not refused (7).
        for port in (9999, 5432, 6379, 3900, 3901, 8300, 22):
            code = wan.execute(f"curl --silent --connect-timeout 3 -o /dev/null telnet://192.0.2.1:{port}")[0]
            assert code == 28, f"port {port} from the WAN: curl exit {code}, expected 28 (dropped)"
        # Without the ruleset the same probe connects: the drop above was the firewall's.
        edge.succeed("nft flush ruleset")
        wan.succeed("curl --fail --silent --max-time 5 -o /dev/null http://192.0.2.1:9999/")
  '';
}
