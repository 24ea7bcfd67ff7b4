import random, subprocess, os, re, sys, glob, json
random.seed(int(sys.argv[1]))
N=int(sys.argv[2])
d=sys.argv[3] if len(sys.argv)>3 else '/tmp/diff/cases'
os.makedirs(d, exist_ok=True)
for f in glob.glob(d+'/*'): os.remove(f)
toks=['w1','w2','wx','w3','{','}','{','}','"q a"','"q{b"','"q # c"',"'s",'#c','!c','\\#e','\\!e','$A','${A}','${A}z','$B','${B}y','$U','${U}','$A,','$A)','"$A"','@main','@^main','@other','@^other','@','~SEQ(i,1,2)','~SEQ(j, 2)','${i}','$i','x${i}','$A=va','$B=v{b','$C=\\','\\','\t','"','""','$_HASH','${_HASH}','${_BANG}','w4{','}w5','w6}','{w7','~LST(k,a,b)','${k}','$M','~SEQx(h,9,11)','${h}','$D=\\','$E=x \\','#only','  ','~SEQ(i,1,2) $M','$M','${i}\\','$D','$E']
for n in range(N):
    lines=[]
    for l in range(random.randint(1,8)):
        k=random.randint(0,6)
        parts=[random.choice(toks) for _ in range(k)]
        sep=random.choice([' ',' ',' ','','\t'])
        line=sep.join(parts)
        if random.random()<0.1: line='  '+line
        if random.random()<0.05: line=line+'\r'
        if random.random()<0.15: line=line+' \\'
        lines.append(line)
    if random.random()<0.3:
        lines.insert(0,'$M=\\\n w8 ${A} \\\n{ w9')
    src='$A=aa\n'+'\n'.join(lines)+'\n'
    open('%s/c%04d.conf'%(d,n),'w').write(src)
