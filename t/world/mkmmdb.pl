#!/usr/bin/perl
# mkmmdb.pl - write the GeoLite2-Country-shaped GeoIP database of the tern test world.
#
#   perl mkmmdb.pl OUT.mmdb
#
# Contract: writes OUT.mmdb (ip_version 6, record_size 24, type GeoLite2-Country)
# holding 127.0.0.10 JP, 127.0.0.11 US, 127.0.0.12 DE (is_in_european_union),
# 127.0.1.0/24 FR and 2001:db8::/32 GB, each with continent, country and
# registered_country maps shaped like GeoLite2's. Exits non-zero on any error.
# Needs libmaxmind-db-writer-perl. remove_reserved_networks must be 0: the
# default silently drops 127.0.0.0/8 and every lookup then misses.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: mkmmdb.pl OUT.mmdb\n";

# type of every map key used in the data (the writer needs them all)
my %types = (
    continent            => 'map',
    country              => 'map',
    registered_country   => 'map',
    code                 => 'utf8_string',
    iso_code             => 'utf8_string',
    names                => 'map',
    en                   => 'utf8_string',
    geoname_id           => 'uint32',
    is_in_european_union => 'boolean',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,      # IPv4 lives at ::/96, as in GeoLite2
    record_size              => 24,
    database_type            => 'GeoLite2-Country',
    languages                => ['en'],
    description              => { en => 'tern test country database' },
    map_key_type_callback    => sub { $types{ $_[0] } },
    remove_reserved_networks => 0,
    alias_ipv6_to_ipv4       => 1,      # ::ffff:a.b.c.d finds the IPv4 data
);

# country - one GeoLite2-Country record
sub country {
    my ($iso, $name, $gid, $cont, $cont_name) = @_;
    return {
        continent          => { code => $cont, names => { en => $cont_name } },
        country            => { iso_code => $iso, geoname_id => $gid, names => { en => $name } },
        registered_country => { iso_code => $iso, geoname_id => $gid, names => { en => $name } },
    };
}

my %nets = (
    '127.0.0.10/32' => country('JP', 'Japan',          1861060, 'AS', 'Asia'),
    '127.0.0.11/32' => country('US', 'United States',  6252001, 'NA', 'North America'),
    '127.0.0.12/32' => country('DE', 'Germany',        2921044, 'EU', 'Europe'),
    '127.0.1.0/24'  => country('FR', 'France',         3017382, 'EU', 'Europe'),
    '2001:db8::/32' => country('GB', 'United Kingdom', 2635167, 'EU', 'Europe'),
);
$nets{'127.0.0.12/32'}{country}{is_in_european_union} = 1;
$tree->insert_network($_, $nets{$_}) for sort keys %nets;

open my $fh, '>:raw', "$out.tmp" or die "mkmmdb.pl: $out.tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "mkmmdb.pl: $out.tmp: $!\n";
rename "$out.tmp", $out or die "mkmmdb.pl: rename to $out: $!\n";
