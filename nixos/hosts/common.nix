# Settings both Housify hosts share: the Housify modules with the package
# overlay, SSH by key only, the LAN layout behind pfSense.
{ lib, ... }:

{
  imports = [ ../modules/housify.nix ];

  nixpkgs.overlays = [ (import ../packages/overlay.nix) ];

  services.openssh = {
    enable = true;
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "prohibit-password";
    };
  };

  services.housify.firewall = {
    # LAN behind pfSense: 10.0.1.0/24 servers, 10.0.99.0/24 management. Every
    # host calls its LAN NIC lan0; each host's default.nix gives that NIC's
    # MAC (lanMacAddress) so it is renamed (the examples ship a placeholder, with a warning).
    lanInterface = "lan0";
    internalSubnets = lib.mkDefault [ "10.0.1.0/24" ];
    managementSubnets = lib.mkDefault [ "10.0.99.0/24" ];
  };

  # Images in Garage (S3), one node per host, each image on two of them.
  services.housify.garage = {
    enable = true;
    replicationFactor = lib.mkDefault 2;
    rpcSecretFile = "/var/lib/secrets/housify/garage-rpc-secret";
    adminTokenFile = "/var/lib/secrets/housify/garage-admin-token";
  };

  # Fixed ids: equal on every host (an NFS-shared directory store relies on them).
  users.groups.housify.gid = 7400;

  networking.domain = "housify.internal";
  networking.nameservers = [ "10.0.1.1" ];
  networking.defaultGateway = "10.0.1.1";
  time.timeZone = "UTC";
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];
  users.users.root.openssh.authorizedKeys.keys = [
    # Replace with the operators' keys (docs/deployment.md, step 2).
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderReplaceWithOperatorKeyxxxxxxxxxx ops@housify"
  ];
  system.stateVersion = "25.11";
}
