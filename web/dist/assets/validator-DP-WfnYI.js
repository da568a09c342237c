import{c1 as i}from"./index-D69seZqW.js";const n=o=>["",...i].includes(o);export{n as i};
