#!/usr/bin/env python3
"""Fails when the crate's modules import each other in a cycle.

Edges: `crate::a::b` paths, `super::x`, and a folder's mod.rs naming its children
(`child::Item`). A cycle is a strongly connected component of more than one module.
Test modules (`#[cfg(test)] [pub(crate)] mod ...` to the end of a file) are left out. Usage:
scripts/module_cycles.py [-v]  (run from the repository root)
"""
import re, glob, sys
g={}
def modname(f):
    rel=f[4:-3]
    if rel.endswith('/mod'): rel=rel[:-4]
    return rel.replace('/','::')
files={modname(f):f for f in glob.glob('src/**/*.rs',recursive=True) if not f.endswith('main.rs')}
for m,f in files.items():
    txt=open(f).read()
    txt=re.split(r'#\[cfg\(test\)\]\s*(?:pub(?:\(crate\))?\s+)?mod \w+',txt)[0]
    txt=re.sub(r'^\s*(pub )?mod \w+;','',txt,flags=re.M)
    # Expand grouped paths, innermost first: `crate::{a::{b, c}, d}` -> crate::a::b ...
    group = re.compile(r'(\b[\w:]*::)\{([^{}]*)\}')
    while group.search(txt):
        txt = group.sub(lambda m: ' '.join(m[1] + x.strip() for x in m[2].split(',') if x.strip()), txt)
    refs=set()
    for r in re.findall(r'crate::((?:\w+::)*\w+)',txt):
        parts=r.split('::')
        for k in range(len(parts),0,-1):
            c='::'.join(parts[:k])
            if c in files:
                if c!=m: refs.add(c)
                break
    par='::'.join(m.split('::')[:-1])
    for r in re.findall(r'super::(\w+)',txt):
        c=(par+'::'+r) if par else r
        if c in files and c!=m: refs.add(c)
        elif par in files and par!=m: refs.add(par)
    if f.endswith('mod.rs'):
        for r in re.findall(r'\b(\w+)::',txt):
            c=(m+'::'+r) if m else r
            if c in files: refs.add(c)
    g[m]=refs
g.pop('lib',None)
idx={};low={};st=[];on=set();sccs=[];i=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in g.get(v,()):
        if w not in g: continue
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        c=[]
        while True:
            w=st.pop();on.discard(w);c.append(w)
            if w==v:break
        if len(c)>1:sccs.append(c)
for v in g:
    if v not in idx: sc(v)
for c in sccs:
    print('module cycle:', ' <-> '.join(sorted(c)))
    for a in sorted(c):
        print('   ', a, '->', ', '.join(sorted(x for x in g[a] if x in c)))
if '-v' in sys.argv:
    for a in sorted(g):
        print(a, '->', ', '.join(sorted(g[a])))
sys.exit(1 if sccs else 0)
