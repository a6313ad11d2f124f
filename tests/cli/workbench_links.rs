//! Strong and weak links drawn differently (issue 12): on the case graph
//! and on the entity pages, in a real build.

use crate::common::Workspace;
use crate::serve::{port_of, start_serve};
use crate::workbench_live::get;

/// The `/entities/device/...` links of a page.
fn devices(page: &str) -> Vec<String> {
    page.match_indices("href=\"/entities/device/")
        .map(|(i, _)| {
            let rest = &page[i + "href=\"".len()..];
            rest.split('"').next().unwrap().to_string()
        })
        .collect()
}

#[test]
fn issue_12_strong_and_weak_links_are_drawn_differently() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let mut reader = csv::Reader::from_path(ws.join("out/cases.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id, size) = (col("case_id"), col("component_size"));
    let linked: Vec<String> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| r[size].parse::<usize>().unwrap_or(0) >= 2)
        .map(|r| r[id].to_string())
        .collect();
    assert!(!linked.is_empty(), "no case in a strong component");
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();

    // A case of a strong component draws a strong line, beside weak ones.
    let (case, page) = linked
        .iter()
        .map(|c| (c, get(&port, &format!("/cases/{c}"))))
        .find(|(_, p)| p.contains("data-strength=\"strong\""))
        .expect("no case graph draws a strong link");
    assert!(
        page.contains("class=\"edge shared_device strong\""),
        "{case}"
    );
    assert!(page.contains("Dashed: weak links"), "{case}: a legend");

    // The entity page of its shared device says which accounts share the
    // setup (strong) and which only the device (weak).
    let strong_entity = devices(&page)
        .into_iter()
        .map(|href| get(&port, &href))
        .find(|p| p.contains("data-strength=\"strong\""))
        .unwrap_or_else(|| panic!("{case}: no device page with a strong row"));
    assert!(strong_entity.contains("one setup with "), "{strong_entity}");
    let weak_somewhere = linked.iter().take(50).any(|c| {
        let page = get(&port, &format!("/cases/{c}"));
        page.contains("data-strength=\"weak\"")
    });
    assert!(weak_somewhere, "no weak link drawn on any linked case");
}
