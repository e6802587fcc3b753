//! The script commands: parsing one line and running it against the cluster.
//! The language itself is documented in `mod.rs`.

use super::cluster::{Cluster, ClusterOptions, LinkFilter};
use crate::raft::{ConfigurationChange, RaftError};
use crate::types::{LogIndex, NodeId};

/// Runs one command line. `Ok` holds the output lines (a refusal by Raft is output
/// too); `Err` is a mistake in the script itself.
pub fn execute(cluster: &mut Option<Cluster>, line: &str) -> Result<Vec<String>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (&name, arguments) = words.split_first().ok_or("empty command")?;
    if name == "cluster" {
        let created = create_cluster(arguments)?;
        let lines = created.node_ids().into_iter().map(|id| created.status(id)).collect();
        *cluster = Some(created);
        return Ok(lines);
    }
    let cluster = cluster.as_mut().ok_or("the script must start with `cluster`")?;
    let lines = match (name, arguments) {
        ("tick", [nodes, rest @ ..]) => {
            let times = match rest {
                [] => 1,
                [times] => parse_number(times)?,
                _ => return Err("usage: tick <nodes|all> [times]".into()),
            };
            tick(cluster, &parse_nodes(cluster, nodes)?, times)
        }
        ("run", [nodes, times]) => run(cluster, &parse_nodes(cluster, nodes)?, parse_number(times)?)?,
        ("campaign", [node]) => campaign(cluster, parse_node(node)?),
        ("deliver", rest) => {
            let (filter, quiet) = parse_link_and_quiet(rest)?;
            cluster.deliver(filter, quiet)
        }
        ("drop", rest) => cluster.drop_queued(parse_link_and_quiet(rest)?.0),
        ("queued", rest) => cluster.queued(parse_link_and_quiet(rest)?.0),
        ("stabilize", rest) => {
            let (_, quiet) = parse_link_and_quiet(rest)?;
            cluster.stabilize(quiet).unwrap_or_else(|error| vec![format!("error: {error}")])
        }
        ("partition", groups) if !groups.is_empty() => {
            let groups = groups.split(|word| *word == "|").map(|group| group.iter().map(|id| parse_node(id)).collect());
            cluster.partition(groups.collect::<Result<_, _>>()?);
            Vec::new()
        }
        ("heal", []) => {
            cluster.heal();
            Vec::new()
        }
        ("propose", [node, command]) => {
            let id = parse_node(node)?;
            proposal(cluster, id, |node| node.propose(command.as_bytes().to_vec()))
        }
        ("add-voter", [leader, node]) => {
            let node = parse_node(node)?;
            cluster.add_joining_node(node);
            proposal(cluster, parse_node(leader)?, |leader| {
                leader.propose_configuration_change(ConfigurationChange::AddVoter(node))
            })
        }
        ("remove-voter", [leader, node]) => {
            let node = parse_node(node)?;
            proposal(cluster, parse_node(leader)?, |leader| {
                leader.propose_configuration_change(ConfigurationChange::RemoveVoter(node))
            })
        }
        ("read", [node, context]) => {
            let (id, context) = (parse_node(node)?, parse_number(context)?);
            request(cluster, id, &format!("read {context} pending"), |node| node.read_index(context))
        }
        ("transfer", [leader, target]) => {
            let (id, target) = (parse_node(leader)?, parse_node(target)?);
            request(cluster, id, &format!("transfer to {target} started"), |node| node.transfer_leadership(target))
        }
        ("compact", [node, index]) => {
            cluster.compact(parse_node(node)?, LogIndex(parse_number(index)?)).unwrap_or_else(error_line)
        }
        ("crash", [node]) => cluster.crash(parse_node(node)?).map(|()| Vec::new()).unwrap_or_else(error_line),
        ("wipe", [node]) => cluster.wipe(parse_node(node)?).map(|()| Vec::new()).unwrap_or_else(error_line),
        ("restart", [node]) => {
            let id = parse_node(node)?;
            let mut lines = cluster.restart(id).unwrap_or_else(error_line);
            lines.push(cluster.status(id));
            lines
        }
        ("status", []) => cluster.node_ids().into_iter().map(|id| cluster.status(id)).collect(),
        ("status", [nodes]) => parse_nodes(cluster, nodes)?.into_iter().map(|id| cluster.status(id)).collect(),
        ("log", [node]) => cluster.log(parse_node(node)?).unwrap_or_else(error_line),
        _ => return Err(format!("unknown command or wrong arguments: {line}")),
    };
    Ok(lines)
}

fn create_cluster(arguments: &[&str]) -> Result<Cluster, String> {
    let (size, options) = arguments.split_first().ok_or("usage: cluster <size> [key=value...]")?;
    let mut cluster_options = ClusterOptions::default();
    for option in options {
        let (key, value) = option.split_once('=').ok_or(format!("expected key=value, got {option}"))?;
        match key {
            "election" => {
                let (min, max) = value.split_once("..").ok_or("election=MIN..MAX")?;
                cluster_options.election_timeout_ticks_min = parse_number(min)?;
                cluster_options.election_timeout_ticks_max = parse_number(max)?;
            }
            "heartbeat" => cluster_options.heartbeat_interval_ticks = parse_number(value)?,
            "inflight" => cluster_options.inflight_appends_max = parse_number(value)?,
            "batch" => cluster_options.append_entries_max = parse_number(value)?,
            "seed" => cluster_options.seed = parse_number(value)?,
            _ => return Err(format!("unknown cluster option {key}")),
        }
    }
    Ok(Cluster::new(parse_number(size)?, cluster_options))
}

/// Ticks every node of `nodes` once per round, `times` rounds.
fn tick(cluster: &mut Cluster, nodes: &[NodeId], times: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..times {
        for id in nodes {
            if cluster.node(*id).is_ok() {
                lines.extend(cluster.act(*id, |node| node.tick()).expect("node is running").1);
            }
        }
    }
    lines
}

/// Ticks `nodes` round by round, delivering every message after each round.
fn run(cluster: &mut Cluster, nodes: &[NodeId], times: u64) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for _ in 0..times {
        lines.extend(tick(cluster, nodes, 1));
        lines.extend(cluster.stabilize(true)?);
    }
    Ok(lines)
}

/// Ticks `id` alone until its election timeout makes it ask for (pre-)votes.
fn campaign(cluster: &mut Cluster, id: NodeId) -> Vec<String> {
    let mut lines = Vec::new();
    let elections_started = cluster.elections_started(id);
    for ticks in 1..=cluster.election_timeout_ticks_max() {
        match cluster.act(id, |node| node.tick()) {
            Err(error) => return vec![format!("error: {error}")],
            Ok(((), effects)) => lines.extend(effects),
        }
        if cluster.elections_started(id) > elections_started {
            lines.insert(0, format!("{id} times out after {ticks} ticks"));
            return lines;
        }
    }
    lines.push(format!("error: {id} did not campaign"));
    lines
}

/// Runs a proposal on `id`: prints where it went, or why it was refused.
fn proposal(
    cluster: &mut Cluster,
    id: NodeId,
    propose: impl FnOnce(&mut crate::raft::RaftNode) -> Result<(LogIndex, crate::types::Term), RaftError>,
) -> Vec<String> {
    match cluster.act(id, propose) {
        Err(error) => vec![format!("error: {error}")],
        Ok((Err(refusal), effects)) => [vec![refused(id, refusal)], effects].concat(),
        Ok((Ok((index, term)), effects)) => [vec![format!("{id} proposed {index}/{term}")], effects].concat(),
    }
}

/// Runs a read or a transfer request on `id`.
fn request(
    cluster: &mut Cluster,
    id: NodeId,
    accepted: &str,
    input: impl FnOnce(&mut crate::raft::RaftNode) -> Result<(), RaftError>,
) -> Vec<String> {
    match cluster.act(id, input) {
        Err(error) => vec![format!("error: {error}")],
        Ok((Err(refusal), effects)) => [vec![refused(id, refusal)], effects].concat(),
        Ok((Ok(()), effects)) => [vec![format!("{id} {accepted}")], effects].concat(),
    }
}

fn refused(id: NodeId, refusal: RaftError) -> String {
    let reason = match refusal {
        RaftError::NotLeader { leader: Some(leader) } => format!("not leader (leader {leader})"),
        RaftError::NotLeader { leader: None } => "not leader (leader unknown)".to_string(),
        RaftError::LeaderTransferInProgress => "leader transfer in progress".to_string(),
        RaftError::ConfigurationChangePending => "configuration change pending".to_string(),
        RaftError::InvalidConfigurationChange => "invalid configuration change".to_string(),
    };
    format!("{id} refused: {reason}")
}

fn error_line(error: String) -> Vec<String> {
    vec![format!("error: {error}")]
}

fn parse_number<T: std::str::FromStr>(word: &str) -> Result<T, String> {
    word.parse().map_err(|_| format!("expected a number, got {word}"))
}

/// `2` or `n2`.
fn parse_node(word: &str) -> Result<NodeId, String> {
    parse_number(word.strip_prefix('n').unwrap_or(word)).map(NodeId)
}

/// `all` or a comma-separated list such as `1,3`.
fn parse_nodes(cluster: &Cluster, word: &str) -> Result<Vec<NodeId>, String> {
    if word == "all" {
        return Ok(cluster.node_ids());
    }
    word.split(',').map(parse_node).collect()
}

/// An optional link `1->2` (`*` for any node) and an optional `quiet` flag.
fn parse_link_and_quiet(words: &[&str]) -> Result<(LinkFilter, bool), String> {
    let mut filter = LinkFilter::default();
    let mut quiet = false;
    for word in words {
        if *word == "quiet" {
            quiet = true;
            continue;
        }
        let (from, to) = word.split_once("->").ok_or(format!("expected from->to, got {word}"))?;
        let endpoint = |part: &str| if part == "*" { Ok(None) } else { parse_node(part).map(Some) };
        filter = LinkFilter { from: endpoint(from)?, to: endpoint(to)? };
    }
    Ok((filter, quiet))
}
