import re,sys
def load(p):
    r={};cur=None
    for line in open(p, encoding='latin1'):
        line=line.rstrip('\n')
        if line.startswith('== '): cur=line[3:]; r[cur]=[]
        else: r[cur].append(line)
    return r
d=sys.argv[2] if len(sys.argv)>2 else '/tmp/diff/cases'
a=load(d+'/ka.out'); m=load(d+'/mine.out')
bad=0;skipped=0
for k in sorted(a):
    src=open(d+'/'+k,encoding='latin1').read()
    if re.search(r'(?m)^[ \t]*\\[#!]', src) or re.search(r'(?m)^[ \t]*\$[A-Za-z_]\w*=.*\\[#!]', src):
        skipped+=1; continue
    mine=[]
    for x in m.get(k,[]):
        l,w=x.split('\t',1)
        mine.append(l+'\t'+eval(w))
    if len(a[k])>400: skipped+=1; continue
    if a[k]!=mine:
        bad+=1
        if bad<=int(sys.argv[1]):
            print('###',k); print(src); print('KA  ',a[k][:40]); print('MINE',mine[:40])
print('mismatch',bad,'of',len(a)-skipped,'skipped',skipped)
