"""The appliance: one manifest (appliance.yaml) from which the CA, certificates, firewall rules,
port map and network documents are generated, and against which a live host is audited."""
