//! The addresses of the other nodes, as this node last knew them, kept in
//! `address-book` in the data directory: a node that joined a running cluster
//! reads it on restart to reach its peers before it can read the node
//! registry (which lives in ranges on those peers). One line per node,
//! `id address`; replaced atomically (a new file, synced, renamed).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use shardforge_core::types::NodeId;

const FILE_NAME: &str = "address-book";

/// The stored book; empty when there is none. A line that does not parse is an error.
pub fn read(data_dir: &Path) -> Result<BTreeMap<NodeId, SocketAddr>, String> {
    let path = data_dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    let mut book = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let entry = line.split_once(' ').and_then(|(id, address)| Some((id.parse().ok()?, address.parse().ok()?)));
        let (id, address) = entry.ok_or_else(|| format!("{}:{}: not `id address`", path.display(), number + 1))?;
        book.insert(NodeId(id), address);
    }
    Ok(book)
}

/// Replaces the stored book with `book`.
pub fn write(data_dir: &Path, book: &BTreeMap<NodeId, SocketAddr>) -> std::io::Result<()> {
    let text: String = book.iter().map(|(node, address)| format!("{} {address}\n", node.0)).collect();
    let path = data_dir.join(FILE_NAME);
    let temporary = data_dir.join(format!("{FILE_NAME}.new"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    std::fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_round_trips_and_a_bad_line_is_an_error() {
        let folder = std::env::temp_dir().join(format!("address-book-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        assert!(read(&folder).unwrap().is_empty());
        let book = BTreeMap::from([
            (NodeId(1), "127.0.0.1:7433".parse().unwrap()),
            (NodeId(4), "127.0.0.1:7436".parse().unwrap()),
        ]);
        write(&folder, &book).unwrap();
        assert_eq!(read(&folder).unwrap(), book);
        std::fs::write(folder.join(FILE_NAME), "1 nowhere\n").unwrap();
        assert!(read(&folder).unwrap_err().contains(":1: not `id address`"));
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
